-- A coarser copy of layers_daily for the reports that need neither the
-- probe's ASN nor the path's transport or address family (effectiveness,
-- spillover and timeline unless `--by asn`; docs/reports.md, "Performance"):
-- per (layer, country, resolver, domain, day) and way of blocking, the
-- non-control target measurements only, what every report counts. At 100M
-- measurements it holds about a quarter of layers_daily's rows, and those
-- reports read it whole. Additive: filled by its own view from site_verdicts,
-- like layers_daily (site verdicts stored before it existed: `blockwatch
-- reclassify`). Reclassify deletes its days like layers_daily's.
CREATE TABLE IF NOT EXISTS layers_sites_daily
(
    layer                   Enum8('dns' = 1, 'web' = 2, 'site' = 3),
    day                     Date,
    probe_country           LowCardinality(String),
    resolver_name           LowCardinality(String),
    domain                  LowCardinality(String),
    verdict                 Enum8('ok' = 1, 'blocked' = 2, 'filtered' = 3, 'suspect' = 4,
                                  'error' = 5, 'unknown' = 6),
    site_layer              Enum8('' = 0, 'dns' = 1, 'ip' = 2, 'tcp' = 3, 'tls' = 4, 'http' = 5),
    method                  LowCardinality(String),
    party                   Enum8('' = 0, 'resolver' = 1, 'network' = 2, 'edge' = 3,
                                  'server' = 4),
    operator                LowCardinality(String),
    measurements            SimpleAggregateFunction(sum, UInt64),
    first_at                SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_at                 SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (layer, probe_country, resolver_name, domain, day, verdict, site_layer, method, party,
          operator);

CREATE MATERIALIZED VIEW IF NOT EXISTS layers_sites_daily_mv TO layers_sites_daily AS
SELECT l.1 AS layer, toDate(started_at) AS day, probe_country, resolver_name, domain,
       l.2 AS verdict, l.3 AS site_layer, l.4 AS method, l.5 AS party, l.6 AS operator,
       toUInt64(count()) AS measurements, min(started_at) AS first_at, max(started_at) AS last_at
FROM (
    SELECT started_at, probe_country, resolver_name, domain,
        arrayJoin([
            ('dns', toString(dns_verdict), if(dns_verdict = 'blocked', 'dns', ''), dns_method,
             if(dns_verdict = 'blocked', 'resolver', ''),
             if(dns_verdict = 'blocked', resolver_name, '')),
            ('web', toString(web_verdict), toString(web_layer), web_method,
             toString(web_party), web_operator),
            ('site', toString(verdict), toString(layer), method, toString(party), operator)
        ]) AS l
    FROM site_verdicts
    WHERE NOT probe_control AND purpose = 'target')
GROUP BY layer, day, probe_country, resolver_name, domain, verdict, site_layer, method, party,
         operator;
