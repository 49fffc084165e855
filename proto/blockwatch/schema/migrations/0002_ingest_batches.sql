-- The batch ledger: which (probe, batch id) pairs are stored. Written by the
-- materialized view as part of every insert into `measurements`, so it cannot
-- disagree with the measurements; the collector looks batches up here before
-- inserting, to acknowledge a replay as duplicates instead of storing it again.
CREATE TABLE IF NOT EXISTS ingest_batches
(
    probe_name          LowCardinality(String),
    batch_id            String,
    measurements        UInt32,
    received_at         DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (probe_name, batch_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ingest_batches_mv TO ingest_batches AS
SELECT probe_name, batch_id, toUInt32(count()) AS measurements, max(received_at) AS received_at
FROM measurements
GROUP BY probe_name, batch_id;
