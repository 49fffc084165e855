-- Verdicts: what the analysis rules (blockwatch.analysis.classify) made of each
-- measurement, with the rule that fired, its evidence and the classifier
-- version. Derived data: `blockwatch reclassify` deletes a time range and
-- writes it again after rules or fingerprints change.
--
-- The measurement's dimensions are copied in so reports never join the wide
-- measurements table. ReplacingMergeTree(classified_at) keeps the newest
-- verdict should a range ever be written twice (FINAL hides the older before
-- merges).
CREATE TABLE IF NOT EXISTS verdicts
(
    measurement_id          UUID,
    started_at              DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    received_at             DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    probe_name              LowCardinality(String),
    probe_country           LowCardinality(String),
    probe_asn               UInt32,
    probe_control           Bool,
    domain                  LowCardinality(String),
    qtype                   UInt16,
    purpose                 Enum8('target' = 1, 'control' = 2, 'identity' = 3),
    resolver_name           LowCardinality(String),
    transport               Enum8('udp' = 1, 'tcp' = 2, 'dot' = 3, 'doh' = 4),
    failure                 LowCardinality(String),
    verdict                 Enum8('ok' = 1, 'blocked' = 2, 'filtered' = 3, 'suspect' = 4,
                                  'error' = 5, 'unknown' = 6),
    method                  Enum8('' = 0, 'ede' = 1, 'refused' = 2, 'nxdomain' = 3,
                                  'nodata' = 4, 'servfail' = 5, 'sinkhole' = 6, 'bogon' = 7,
                                  'drop' = 8, 'injected' = 9),
    rule                    LowCardinality(String),
    rcode                   Nullable(UInt16),
    ede_code                Nullable(UInt16),
    ede_text                String CODEC(ZSTD(1)),
    fingerprint             LowCardinality(String),
    answer                  Array(String) CODEC(ZSTD(1)),
    control_outcome         LowCardinality(String),
    control_answer          Array(String) CODEC(ZSTD(1)),
    control_measurement_id  String CODEC(ZSTD(1)),
    resolver_health         LowCardinality(String),
    classifier_version      LowCardinality(String),
    classified_at           DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(classified_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (probe_country, resolver_name, domain, started_at, measurement_id);

-- Daily rollup every report except `probes` reads: a few rows per (day,
-- country, ASN, resolver, domain) instead of one per measurement, so reports
-- stay fast at hundreds of millions of measurements (bench/reports.py).
-- Filled by the materialized view below in the same insert as `verdicts`;
-- reclassify deletes the same days here before writing them again.
CREATE TABLE IF NOT EXISTS verdicts_daily
(
    day                     Date,
    probe_country           LowCardinality(String),
    probe_asn               UInt32,
    probe_control           Bool,
    resolver_name           LowCardinality(String),
    domain                  LowCardinality(String),
    purpose                 Enum8('target' = 1, 'control' = 2, 'identity' = 3),
    verdict                 Enum8('ok' = 1, 'blocked' = 2, 'filtered' = 3, 'suspect' = 4,
                                  'error' = 5, 'unknown' = 6),
    method                  Enum8('' = 0, 'ede' = 1, 'refused' = 2, 'nxdomain' = 3,
                                  'nodata' = 4, 'servfail' = 5, 'sinkhole' = 6, 'bogon' = 7,
                                  'drop' = 8, 'injected' = 9),
    measurements            SimpleAggregateFunction(sum, UInt64),
    first_at                SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_at                 SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (probe_country, resolver_name, domain, day, probe_asn, probe_control, purpose,
          verdict, method);

CREATE MATERIALIZED VIEW IF NOT EXISTS verdicts_daily_mv TO verdicts_daily AS
SELECT toDate(started_at) AS day, probe_country, probe_asn, probe_control, resolver_name,
       domain, purpose, verdict, method, toUInt64(count()) AS measurements,
       min(started_at) AS first_at, max(started_at) AS last_at
FROM verdicts
GROUP BY day, probe_country, probe_asn, probe_control, resolver_name, domain, purpose,
         verdict, method;
