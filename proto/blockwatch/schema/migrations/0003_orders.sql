-- Blocking orders and their targets, mirrored from the registry (the source of
-- truth, writable while the collector runs) so reports can join them with
-- measurements in SQL. The collector rewrites these tables whenever an import
-- changes the registry.
CREATE TABLE IF NOT EXISTS orders
(
    order_id            String,
    authority           String,
    title               String,
    issued              Date,
    deadline            Date,
    countries           Array(LowCardinality(String)),
    intermediaries      Array(LowCardinality(String)),
    source              String
)
ENGINE = ReplacingMergeTree
ORDER BY order_id;

CREATE TABLE IF NOT EXISTS order_domains
(
    order_id            String,
    site                LowCardinality(String),
    domain              String,
    kind                Enum8('domain' = 1, 'mirror' = 2),
    added               Date
)
ENGINE = ReplacingMergeTree
ORDER BY (order_id, domain);

CREATE TABLE IF NOT EXISTS control_domains
(
    domain              String
)
ENGINE = ReplacingMergeTree
ORDER BY domain;
