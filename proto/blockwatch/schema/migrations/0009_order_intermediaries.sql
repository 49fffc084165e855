-- Each order's intermediaries as groups (issue 13): the resolvers whose DNS
-- answers an intermediary controls, and the networks that identify its edge
-- in web evidence (an edge operator recognised from headers, "cloudflare", or
-- an ASN, "AS13335"). One compliance row per intermediary; a plain name in
-- the order file is a group of that one resolver and no network. Mirrored
-- from the registry with orders/order_domains (store.replace_orders).
CREATE TABLE IF NOT EXISTS order_intermediaries
(
    order_id            String,
    intermediary        LowCardinality(String),
    resolvers           Array(LowCardinality(String)),
    networks            Array(LowCardinality(String))
)
ENGINE = ReplacingMergeTree
ORDER BY (order_id, intermediary);
