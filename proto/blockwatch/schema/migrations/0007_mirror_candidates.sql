-- Mirror discovery (issue 14, docs/mirrors.md).
--
-- A fourth purpose: names the collector derived as possible mirrors and asks
-- probes to measure. Adding an Enum8 value is a metadata change, allowed on a
-- key column (verdicts_daily orders by purpose).
ALTER TABLE measurements MODIFY COLUMN purpose
    Enum8('target' = 1, 'control' = 2, 'identity' = 3, 'candidate' = 4);
ALTER TABLE verdicts MODIFY COLUMN purpose
    Enum8('target' = 1, 'control' = 2, 'identity' = 3, 'candidate' = 4);
ALTER TABLE verdicts_daily MODIFY COLUMN purpose
    Enum8('target' = 1, 'control' = 2, 'identity' = 3, 'candidate' = 4);

-- One row per (order, site, candidate, source, listed domain): the evidence
-- the collector's derivation found in stored observations, with where it came
-- from (probe, observation, when). Derived data, rewritten by each pass; the
-- newest pass wins (derived_at), first_seen is the earliest observation that
-- shows it.
CREATE TABLE IF NOT EXISTS mirror_candidates
(
    order_id            String,
    site                LowCardinality(String),
    candidate           String,
    source              Enum8('redirect' = 1, 'certificate' = 2, 'cohost' = 3, 'variant' = 4),
    listed_domain       String,
    evidence            String CODEC(ZSTD(1)),
    probe_name          LowCardinality(String),
    observation_id      String,
    first_seen          DateTime64(6, 'UTC'),
    derived_at          DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(derived_at)
ORDER BY (order_id, candidate, source, listed_domain);

-- Candidates an analyst rejected (`targets reject`), mirrored from the
-- registry like the orders: never proposed again.
CREATE TABLE IF NOT EXISTS candidate_rejections
(
    order_id            String,
    domain              String,
    rejected_on         Date
)
ENGINE = ReplacingMergeTree
ORDER BY (order_id, domain);
