-- One row per measurement: (domain, qtype, resolver, transport) asked once by one probe.
--
-- The probe's name, country and ASN come from the collector's registry at the
-- time the batch arrived, never from the batch. The first response is
-- flattened (what a stub resolver would have used); later UDP responses keep a
-- compact form (later_*) so on-path injection can be analysed.
--
-- ReplacingMergeTree: every column of the ordering key derives from the
-- measurement itself, so a measurement stored twice (a replay that escaped the
-- batch ledger and the insert deduplication token) collapses on merge and
-- `FINAL` hides it before.
CREATE TABLE IF NOT EXISTS measurements
(
    measurement_id      UUID,
    batch_id            String CODEC(ZSTD(1)),
    round_id            String CODEC(ZSTD(1)),
    probe_name          LowCardinality(String),
    probe_country       LowCardinality(String),
    probe_asn           UInt32,
    probe_control       Bool,
    started_at          DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    duration_us         UInt32 CODEC(T64, ZSTD(1)),
    received_at         DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    domain              LowCardinality(String),
    qtype               UInt16,
    qclass              UInt16,
    purpose             Enum8('target' = 1, 'control' = 2, 'identity' = 3),
    resolver_name       LowCardinality(String),
    resolver_address    LowCardinality(String),
    resolver_port       UInt16,
    transport           Enum8('udp' = 1, 'tcp' = 2, 'dot' = 3, 'doh' = 4),
    resolver_tls_name   LowCardinality(String),
    resolver_url        LowCardinality(String),
    failure             Enum8('none' = 0, 'timeout' = 1, 'connection_refused' = 2,
                              'connection_reset' = 3, 'network_unreachable' = 4,
                              'host_unreachable' = 5, 'tls_error' = 6, 'tls_certificate' = 7,
                              'http_error' = 8, 'malformed_response' = 9, 'os_error' = 10,
                              'unknown' = 11),
    failure_text        String CODEC(ZSTD(1)),
    response_count      UInt8,
    -- first response (rcode NULL when there was none; other columns then 0/empty)
    arrival_us          UInt32 CODEC(T64, ZSTD(1)),
    rcode               Nullable(UInt16),
    flags               UInt16,
    answers Nested
    (
        name            LowCardinality(String),
        type            UInt16,
        ttl             UInt32,
        data            String
    ),
    cname_chain         Array(LowCardinality(String)),
    authority_count     UInt16,
    additional_count    UInt16,
    edns                Bool,
    ede_codes           Array(UInt16),
    ede_texts           Array(String),
    nsid                String,
    response_size       UInt32,
    parse_error         String CODEC(ZSTD(1)),
    wire                String CODEC(ZSTD(3)),
    -- responses 2..n, arrival order
    later_arrival_us    Array(UInt32),
    later_rcode         Array(UInt16),
    later_flags         Array(UInt16),
    later_size          Array(UInt32),
    later_answer_types  Array(Array(UInt16)),
    later_answer_data   Array(Array(String)),
    later_ede_codes     Array(Array(UInt16)),
    later_ede_texts     Array(Array(String)),
    later_wire          Array(String) CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (probe_country, resolver_name, domain, started_at, measurement_id)
SETTINGS non_replicated_deduplication_window = 10000;
