-- Where an order's numbers come from (the web view's order page, evidence kind
-- `sources`): per day, domain, country, ASN and control flag, the target
-- measurements with a site verdict, the first and the last. The order page
-- read them from layers_daily's site layer, every row of the order's domains
-- in every country (0.7-1.2 s of a cold page at a 100M rollup: the domains are
-- the key's fourth column); keyed by domain first, an order's domains are a
-- few granules of a table without resolvers, transports or verdicts. The same
-- figures: one site-layer row of layers_daily per site verdict, as here.
-- Filled by its own view from site_verdicts, like the layer rollups (site
-- verdicts stored before it existed: `blockwatch reclassify`); reclassify
-- deletes its days like theirs.
CREATE TABLE IF NOT EXISTS sources_daily
(
    day                     Date,
    domain                  LowCardinality(String),
    probe_country           LowCardinality(String),
    probe_asn               UInt32,
    probe_control           Bool,
    measurements            SimpleAggregateFunction(sum, UInt64),
    first_at                SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_at                 SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (domain, probe_country, day, probe_asn, probe_control);

CREATE MATERIALIZED VIEW IF NOT EXISTS sources_daily_mv TO sources_daily AS
SELECT toDate(started_at) AS day, domain, probe_country, probe_asn, probe_control,
       toUInt64(count()) AS measurements, min(started_at) AS first_at, max(started_at) AS last_at
FROM site_verdicts
WHERE purpose = 'target'
GROUP BY day, domain, probe_country, probe_asn, probe_control;
