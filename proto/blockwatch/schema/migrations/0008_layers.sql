-- Verdicts across layers (issue 13, docs/verdicts.md): was the site reachable
-- through this path, and if not, at which layer and by whose hand.
--
-- web_verdicts: one per web follow-up (web_observations row), from the web
-- rules (analysis/webverdicts.py) with its control context and evidence
-- strength (strength.py).
--
-- site_verdicts: one per DNS measurement, i.e. per (probe, resolver path,
-- name, qtype, round): the DNS layer (the DNS verdict, upgraded to `ok` when a
-- follow-up of its answer was TLS-consistent), the web layer (the follow-ups
-- of that measurement's answers) and the site verdict (the first layer that
-- blocks decides, siteverdict.py), with the party that controls that layer.
--
-- Derived data, like `verdicts`: reclassify deletes a time range and writes it
-- again; ReplacingMergeTree(classified_at) keeps the newest.
CREATE TABLE IF NOT EXISTS web_verdicts
(
    observation_id          UUID,
    started_at              DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    received_at             DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    round_id                String CODEC(ZSTD(1)),
    probe_name              LowCardinality(String),
    probe_country           LowCardinality(String),
    probe_asn               UInt32,
    probe_control           Bool,
    name                    LowCardinality(String),
    address                 String CODEC(ZSTD(1)),
    port                    UInt16,
    scheme                  Enum8('http' = 1, 'https' = 2),
    dns_measurement_ids     Array(UUID),
    verdict                 Enum8('ok' = 1, 'blocked' = 2, 'filtered' = 3, 'suspect' = 4,
                                  'error' = 5, 'unknown' = 6),
    method                  Enum8('' = 0, 'http-451' = 1, 'blockpage' = 2, 'ip-drop' = 3,
                                  'tcp-reset' = 4, 'tls-interference' = 5),
    rule                    LowCardinality(String),
    failure                 LowCardinality(String),
    status                  UInt16,
    title                   String CODEC(ZSTD(1)),
    fingerprint             LowCardinality(String),
    fingerprint_source      LowCardinality(String),
    server                  LowCardinality(String),
    edge_operator           LowCardinality(String),
    certificate_valid       Bool,
    tls_consistent          Bool,
    differs                 Array(LowCardinality(String)),
    control_observation_id  String CODEC(ZSTD(1)),
    classifier_version      LowCardinality(String),
    classified_at           DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(classified_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (probe_country, name, started_at, observation_id);

CREATE TABLE IF NOT EXISTS site_verdicts
(
    measurement_id          UUID,
    started_at              DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    received_at             DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    round_id                String CODEC(ZSTD(1)),
    probe_name              LowCardinality(String),
    probe_country           LowCardinality(String),
    probe_asn               UInt32,
    probe_control           Bool,
    domain                  LowCardinality(String),
    qtype                   UInt16,
    purpose                 Enum8('target' = 1, 'control' = 2, 'identity' = 3, 'candidate' = 4),
    resolver_name           LowCardinality(String),
    transport               Enum8('udp' = 1, 'tcp' = 2, 'dot' = 3, 'doh' = 4),
    -- the DNS layer: verdicts.verdict/method, or `ok` / tls_consistent_answer
    dns_verdict             Enum8('ok' = 1, 'blocked' = 2, 'filtered' = 3, 'suspect' = 4,
                                  'error' = 5, 'unknown' = 6),
    dns_method              LowCardinality(String),
    dns_rule                LowCardinality(String),
    -- the web layer: the follow-ups of this measurement's answers ('unknown' /
    -- rule no_follow_up when none was made, e.g. no address to follow)
    web_verdict             Enum8('ok' = 1, 'blocked' = 2, 'filtered' = 3, 'suspect' = 4,
                                  'error' = 5, 'unknown' = 6),
    web_method              LowCardinality(String),
    web_rule                LowCardinality(String),
    web_observation_ids     Array(UUID),
    web_layer               Enum8('' = 0, 'dns' = 1, 'ip' = 2, 'tcp' = 3, 'tls' = 4, 'http' = 5),
    web_party               Enum8('' = 0, 'resolver' = 1, 'network' = 2, 'edge' = 3,
                                  'server' = 4),
    web_operator            LowCardinality(String),
    -- the site: the first layer that blocks decides
    verdict                 Enum8('ok' = 1, 'blocked' = 2, 'filtered' = 3, 'suspect' = 4,
                                  'error' = 5, 'unknown' = 6),
    layer                   Enum8('' = 0, 'dns' = 1, 'ip' = 2, 'tcp' = 3, 'tls' = 4, 'http' = 5),
    method                  LowCardinality(String),
    party                   Enum8('' = 0, 'resolver' = 1, 'network' = 2, 'edge' = 3,
                                  'server' = 4),
    operator                LowCardinality(String),
    confirmed_by            Array(LowCardinality(String)),
    classifier_version      LowCardinality(String),
    classified_at           DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(classified_at)
PARTITION BY toYYYYMM(started_at)
ORDER BY (probe_country, resolver_name, domain, started_at, measurement_id);

-- The daily rollup the layered reports read (`--layer dns|web|site`): three
-- rows per site verdict, one per layer, so a report reads only its layer's
-- part of the key. `family` is the address family the path asked for (A ->
-- 4, AAAA -> 6, else 0); `method` is the layer's method ("sinkhole",
-- "http-451", ...); site_layer/party/operator say where and by whose hand
-- it blocked (for the DNS layer: 'dns', the resolver; for the web layer: the
-- web layer's own, web_layer/web_party/web_operator).
CREATE TABLE IF NOT EXISTS layers_daily
(
    layer                   Enum8('dns' = 1, 'web' = 2, 'site' = 3),
    day                     Date,
    probe_country           LowCardinality(String),
    probe_asn               UInt32,
    probe_control           Bool,
    resolver_name           LowCardinality(String),
    transport               Enum8('udp' = 1, 'tcp' = 2, 'dot' = 3, 'doh' = 4),
    family                  UInt8,
    domain                  LowCardinality(String),
    purpose                 Enum8('target' = 1, 'control' = 2, 'identity' = 3, 'candidate' = 4),
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
ORDER BY (layer, probe_country, resolver_name, domain, day, probe_asn, probe_control, purpose,
          transport, family, verdict, site_layer, method, party, operator);

CREATE MATERIALIZED VIEW IF NOT EXISTS layers_daily_mv TO layers_daily AS
SELECT l.1 AS layer, toDate(started_at) AS day, probe_country, probe_asn, probe_control,
       resolver_name, transport, family, domain, purpose, l.2 AS verdict, l.3 AS site_layer,
       l.4 AS method, l.5 AS party, l.6 AS operator,
       toUInt64(count()) AS measurements, min(started_at) AS first_at, max(started_at) AS last_at
FROM (
    SELECT started_at, probe_country, probe_asn, probe_control, resolver_name, transport,
        toUInt8(multiIf(qtype = 1, 4, qtype = 28, 6, 0)) AS family, domain, purpose,
        arrayJoin([
            ('dns', toString(dns_verdict), if(dns_verdict = 'blocked', 'dns', ''), dns_method,
             if(dns_verdict = 'blocked', 'resolver', ''),
             if(dns_verdict = 'blocked', resolver_name, '')),
            ('web', toString(web_verdict), toString(web_layer), web_method,
             toString(web_party), web_operator),
            ('site', toString(verdict), toString(layer), method, toString(party), operator)
        ]) AS l
    FROM site_verdicts)
GROUP BY layer, day, probe_country, probe_asn, probe_control, resolver_name, transport, family,
         domain, purpose, verdict, site_layer, method, party, operator;
