-- Web follow-ups (issue 12, docs/web.md): one row per (name, address, port)
-- a probe followed after a round's DNS: TCP connect, TLS with SNI = name,
-- HTTP/1.1 GET / with Host: name. Observations, not verdicts.
--
-- As for measurements, the probe's identity comes from the registry, the
-- ordering key derives from the observation itself (a replay that escaped
-- the ledger and the insert deduplication token collapses on merge, FINAL
-- hides it before), and the enums are the wire contract's numbers (a unit
-- test checks them against the proto descriptor).
CREATE TABLE IF NOT EXISTS web_observations
(
    observation_id       UUID,
    batch_id             String CODEC(ZSTD(1)),
    round_id             String CODEC(ZSTD(1)),
    probe_name           LowCardinality(String),
    probe_country        LowCardinality(String),
    probe_asn            UInt32,
    probe_control        Bool,
    started_at           DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    duration_us          UInt32 CODEC(T64, ZSTD(1)),
    received_at          DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    name                 LowCardinality(String),
    address              LowCardinality(String),
    port                 UInt16,
    scheme               Enum8('http' = 1, 'https' = 2),
    dns_measurement_ids  Array(UUID),
    connect_duration_us  UInt32 CODEC(T64, ZSTD(1)),
    connect_failure      Enum8('none' = 0, 'timeout' = 1, 'connection_refused' = 2,
                               'connection_reset' = 3, 'network_unreachable' = 4,
                               'host_unreachable' = 5, 'tls_error' = 6, 'tls_certificate' = 7,
                               'http_error' = 8, 'malformed_response' = 9, 'os_error' = 10,
                               'unknown' = 11),
    connect_failure_text String CODEC(ZSTD(1)),
    tls_attempted        Bool,
    tls_duration_us      UInt32 CODEC(T64, ZSTD(1)),
    tls_version          Enum8('unspecified' = 0, 'ssl3' = 1, 'tls1_0' = 2, 'tls1_1' = 3,
                               'tls1_2' = 4, 'tls1_3' = 5),
    tls_cipher           LowCardinality(String),
    has_certificate      Bool,
    cert_subject         String CODEC(ZSTD(1)),
    cert_issuer          LowCardinality(String),
    cert_sans            Array(String) CODEC(ZSTD(1)),
    cert_not_before      DateTime('UTC'),
    cert_not_after       DateTime('UTC'),
    cert_sha256          String CODEC(ZSTD(1)),
    chain_verified       Bool,
    name_matches         Bool,
    verify_error         String CODEC(ZSTD(1)),
    tls_failure          Enum8('none' = 0, 'timeout' = 1, 'connection_refused' = 2,
                               'connection_reset' = 3, 'network_unreachable' = 4,
                               'host_unreachable' = 5, 'tls_error' = 6, 'tls_certificate' = 7,
                               'http_error' = 8, 'malformed_response' = 9, 'os_error' = 10,
                               'unknown' = 11),
    tls_failure_text     String CODEC(ZSTD(1)),
    http_sent            Bool,
    http_url             String CODEC(ZSTD(1)),
    http_duration_us     UInt32 CODEC(T64, ZSTD(1)),
    first_byte_us        UInt32 CODEC(T64, ZSTD(1)),
    status               UInt16,
    reason               LowCardinality(String),
    http_version         LowCardinality(String),
    headers Nested
    (
        name             LowCardinality(String),
        value            String
    ),
    body_length          UInt64 CODEC(T64, ZSTD(1)),
    body_truncated       Bool,
    body_sha256          String CODEC(ZSTD(1)),
    body_prefix          String CODEC(ZSTD(3)),
    title                String CODEC(ZSTD(1)),
    http_failure         Enum8('none' = 0, 'timeout' = 1, 'connection_refused' = 2,
                               'connection_reset' = 3, 'network_unreachable' = 4,
                               'host_unreachable' = 5, 'tls_error' = 6, 'tls_certificate' = 7,
                               'http_error' = 8, 'malformed_response' = 9, 'os_error' = 10,
                               'unknown' = 11),
    http_failure_text    String CODEC(ZSTD(1)),
    -- followed redirect hops (opt-in), in order
    redirect_url         Array(String),
    redirect_duration_us Array(UInt32),
    redirect_status      Array(UInt16),
    redirect_location    Array(String),
    redirect_title       Array(String),
    redirect_failure     Array(Int8),
    redirect_failure_text Array(String),
    truncated            Bool
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (probe_name, name, started_at, observation_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- The web observations' batch ledger, as ingest_batches is for measurements:
-- a batch carrying both kinds is stored by two inserts, and each kind is
-- looked up in its own ledger, so a replay after a crash between the two
-- stores the missing kind and never the stored one again.
CREATE TABLE IF NOT EXISTS web_ingest_batches
(
    probe_name          LowCardinality(String),
    batch_id            String,
    observations        UInt32,
    received_at         DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (probe_name, batch_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS web_ingest_batches_mv TO web_ingest_batches AS
SELECT probe_name, batch_id, toUInt32(count()) AS observations,
       max(received_at) AS received_at
FROM web_observations
GROUP BY probe_name, batch_id;
