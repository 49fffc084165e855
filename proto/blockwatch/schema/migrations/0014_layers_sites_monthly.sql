-- layers_sites_daily (0011) without the day: one row per month instead of one
-- per day, for the whole months of a report's range (effectiveness and
-- spillover unless `--by asn`; the partial months at its edges still come
-- from the daily rollup; docs/reports.md, "Performance"). At 100M
-- measurements over 30 days the daily rollup holds 4.2M rows per layer, read
-- whole by the default report (no --since/--until): 0.4-0.9 s. A month sums
-- the same rows to about a thirtieth.
--
-- Filled by its own view from site_verdicts, as the daily one (site verdicts
-- stored before it existed: `blockwatch reclassify`). Reclassify deletes from
-- the month of its first day and puts back that month's days before it from
-- the daily rollup (analysis/storage.py), so both always hold the same counts.
CREATE TABLE IF NOT EXISTS layers_sites_monthly
(
    layer                   Enum8('dns' = 1, 'web' = 2, 'site' = 3),
    month                   Date,
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
PARTITION BY toYYYYMM(month)
ORDER BY (layer, probe_country, resolver_name, domain, month, verdict, site_layer, method, party,
          operator);

CREATE MATERIALIZED VIEW IF NOT EXISTS layers_sites_monthly_mv TO layers_sites_monthly AS
SELECT l.1 AS layer, toStartOfMonth(started_at) AS month, probe_country, resolver_name, domain,
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
GROUP BY layer, month, probe_country, resolver_name, domain, verdict, site_layer, method, party,
         operator;
