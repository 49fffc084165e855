-- The controls a DNS verdict compares with, apart from the measurements
-- (issue 15). Each chunk of the pass reads, within the control window (6 h
-- either side of the chunk), what control vantages resolved for the chunk's
-- names and every resolver health check of its (probe, resolver, transport).
-- From `measurements` those filters read probe_control, purpose and
-- started_at of every row in the window, 12 h of all probes' measurements per
-- chunk, to find the few percent that are controls. Here they are their own
-- small tables, filled at ingest by views and keyed by what the pass looks
-- them up by, so a chunk reads a few granules per key.
--
-- Only the stored fields: what they mean (outcome, addresses, working or not)
-- stays in the rules (rules_sql.py), computed when read. A measurement stored
-- twice (a replay) collapses on merge, as in `measurements`; a copy read
-- before that changes no verdict (the nearest control is the same instant).
-- Additive; the INSERTs copy what was stored before the views existed (a row
-- that arrives in between is copied twice and collapses the same way). They
-- take a part per ingest insert like `measurements`, so they merge as wide
-- (0017).
CREATE TABLE IF NOT EXISTS control_resolutions
(
    domain              LowCardinality(String),
    qtype               UInt16,
    started_at          DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    measurement_id      UUID,
    rcode               Nullable(UInt16),
    answers Nested
    (
        type            UInt16,
        data            String
    )
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (domain, qtype, started_at, measurement_id)
SETTINGS merge_selector_base = 20;

CREATE MATERIALIZED VIEW IF NOT EXISTS control_resolutions_mv TO control_resolutions AS
SELECT domain, qtype, started_at, measurement_id, rcode, `answers.type`, `answers.data`
FROM measurements
WHERE probe_control;

CREATE TABLE IF NOT EXISTS health_checks
(
    probe_name          LowCardinality(String),
    resolver_name       LowCardinality(String),
    transport           Enum8('udp' = 1, 'tcp' = 2, 'dot' = 3, 'doh' = 4),
    started_at          DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    measurement_id      UUID,
    rcode               Nullable(UInt16),
    answers Nested
    (
        type            UInt16
    )
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (probe_name, resolver_name, transport, started_at, measurement_id)
SETTINGS merge_selector_base = 20;

CREATE MATERIALIZED VIEW IF NOT EXISTS health_checks_mv TO health_checks AS
SELECT probe_name, resolver_name, transport, started_at, measurement_id, rcode, `answers.type`
FROM measurements
WHERE purpose = 'control';

INSERT INTO control_resolutions
SELECT domain, qtype, started_at, measurement_id, rcode, `answers.type`, `answers.data`
FROM measurements
WHERE probe_control;

INSERT INTO health_checks
SELECT probe_name, resolver_name, transport, started_at, measurement_id, rcode, `answers.type`
FROM measurements
WHERE purpose = 'control'
