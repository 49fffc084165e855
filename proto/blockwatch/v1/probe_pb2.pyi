from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Transport(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSPORT_UNSPECIFIED: _ClassVar[Transport]
    TRANSPORT_UDP: _ClassVar[Transport]
    TRANSPORT_TCP: _ClassVar[Transport]
    TRANSPORT_DOT: _ClassVar[Transport]
    TRANSPORT_DOH: _ClassVar[Transport]

class Failure(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_NONE: _ClassVar[Failure]
    FAILURE_TIMEOUT: _ClassVar[Failure]
    FAILURE_CONNECTION_REFUSED: _ClassVar[Failure]
    FAILURE_CONNECTION_RESET: _ClassVar[Failure]
    FAILURE_NETWORK_UNREACHABLE: _ClassVar[Failure]
    FAILURE_HOST_UNREACHABLE: _ClassVar[Failure]
    FAILURE_TLS_ERROR: _ClassVar[Failure]
    FAILURE_TLS_CERTIFICATE: _ClassVar[Failure]
    FAILURE_HTTP_ERROR: _ClassVar[Failure]
    FAILURE_MALFORMED_RESPONSE: _ClassVar[Failure]
    FAILURE_OS_ERROR: _ClassVar[Failure]
    FAILURE_UNKNOWN: _ClassVar[Failure]

class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_UNSPECIFIED: _ClassVar[Purpose]
    PURPOSE_TARGET: _ClassVar[Purpose]
    PURPOSE_CONTROL: _ClassVar[Purpose]
    PURPOSE_IDENTITY: _ClassVar[Purpose]
    PURPOSE_CANDIDATE: _ClassVar[Purpose]

class Scheme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEME_UNSPECIFIED: _ClassVar[Scheme]
    SCHEME_HTTP: _ClassVar[Scheme]
    SCHEME_HTTPS: _ClassVar[Scheme]

class TlsVersion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TLS_VERSION_UNSPECIFIED: _ClassVar[TlsVersion]
    TLS_VERSION_SSL3: _ClassVar[TlsVersion]
    TLS_VERSION_TLS1_0: _ClassVar[TlsVersion]
    TLS_VERSION_TLS1_1: _ClassVar[TlsVersion]
    TLS_VERSION_TLS1_2: _ClassVar[TlsVersion]
    TLS_VERSION_TLS1_3: _ClassVar[TlsVersion]
TRANSPORT_UNSPECIFIED: Transport
TRANSPORT_UDP: Transport
TRANSPORT_TCP: Transport
TRANSPORT_DOT: Transport
TRANSPORT_DOH: Transport
FAILURE_NONE: Failure
FAILURE_TIMEOUT: Failure
FAILURE_CONNECTION_REFUSED: Failure
FAILURE_CONNECTION_RESET: Failure
FAILURE_NETWORK_UNREACHABLE: Failure
FAILURE_HOST_UNREACHABLE: Failure
FAILURE_TLS_ERROR: Failure
FAILURE_TLS_CERTIFICATE: Failure
FAILURE_HTTP_ERROR: Failure
FAILURE_MALFORMED_RESPONSE: Failure
FAILURE_OS_ERROR: Failure
FAILURE_UNKNOWN: Failure
PURPOSE_UNSPECIFIED: Purpose
PURPOSE_TARGET: Purpose
PURPOSE_CONTROL: Purpose
PURPOSE_IDENTITY: Purpose
PURPOSE_CANDIDATE: Purpose
SCHEME_UNSPECIFIED: Scheme
SCHEME_HTTP: Scheme
SCHEME_HTTPS: Scheme
TLS_VERSION_UNSPECIFIED: TlsVersion
TLS_VERSION_SSL3: TlsVersion
TLS_VERSION_TLS1_0: TlsVersion
TLS_VERSION_TLS1_1: TlsVersion
TLS_VERSION_TLS1_2: TlsVersion
TLS_VERSION_TLS1_3: TlsVersion

class Resolver(_message.Message):
    __slots__ = ("name", "address", "port", "transport", "tls_name", "url")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    TLS_NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    port: int
    transport: Transport
    tls_name: str
    url: str
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., transport: _Optional[_Union[Transport, str]] = ..., tls_name: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class ResourceRecord(_message.Message):
    __slots__ = ("name", "rtype", "ttl", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RTYPE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    rtype: int
    ttl: int
    data: str
    def __init__(self, name: _Optional[str] = ..., rtype: _Optional[int] = ..., ttl: _Optional[int] = ..., data: _Optional[str] = ...) -> None: ...

class ExtendedError(_message.Message):
    __slots__ = ("code", "text")
    CODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    code: int
    text: str
    def __init__(self, code: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("arrival_us", "rcode", "flags", "answers", "cname_chain", "authority_count", "additional_count", "edns", "extended_errors", "nsid", "wire", "size", "parse_error", "wire_truncated")
    ARRIVAL_US_FIELD_NUMBER: _ClassVar[int]
    RCODE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    CNAME_CHAIN_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_COUNT_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    EDNS_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_ERRORS_FIELD_NUMBER: _ClassVar[int]
    NSID_FIELD_NUMBER: _ClassVar[int]
    WIRE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PARSE_ERROR_FIELD_NUMBER: _ClassVar[int]
    WIRE_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    arrival_us: int
    rcode: int
    flags: int
    answers: _containers.RepeatedCompositeFieldContainer[ResourceRecord]
    cname_chain: _containers.RepeatedScalarFieldContainer[str]
    authority_count: int
    additional_count: int
    edns: bool
    extended_errors: _containers.RepeatedCompositeFieldContainer[ExtendedError]
    nsid: bytes
    wire: bytes
    size: int
    parse_error: str
    wire_truncated: bool
    def __init__(self, arrival_us: _Optional[int] = ..., rcode: _Optional[int] = ..., flags: _Optional[int] = ..., answers: _Optional[_Iterable[_Union[ResourceRecord, _Mapping]]] = ..., cname_chain: _Optional[_Iterable[str]] = ..., authority_count: _Optional[int] = ..., additional_count: _Optional[int] = ..., edns: _Optional[bool] = ..., extended_errors: _Optional[_Iterable[_Union[ExtendedError, _Mapping]]] = ..., nsid: _Optional[bytes] = ..., wire: _Optional[bytes] = ..., size: _Optional[int] = ..., parse_error: _Optional[str] = ..., wire_truncated: _Optional[bool] = ...) -> None: ...

class StrayReply(_message.Message):
    __slots__ = ("arrival_us", "size", "reason")
    ARRIVAL_US_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    arrival_us: int
    size: int
    reason: str
    def __init__(self, arrival_us: _Optional[int] = ..., size: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Measurement(_message.Message):
    __slots__ = ("measurement_id", "round_id", "started_at_us", "duration_us", "domain", "qtype", "qclass", "purpose", "resolver", "failure", "failure_text", "responses", "reply_count", "answer_set_count", "reply_bytes", "stray_count", "strays", "truncated")
    MEASUREMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_US_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    QTYPE_FIELD_NUMBER: _ClassVar[int]
    QCLASS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    RESOLVER_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    REPLY_COUNT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_SET_COUNT_FIELD_NUMBER: _ClassVar[int]
    REPLY_BYTES_FIELD_NUMBER: _ClassVar[int]
    STRAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    STRAYS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    measurement_id: bytes
    round_id: str
    started_at_us: int
    duration_us: int
    domain: str
    qtype: int
    qclass: int
    purpose: Purpose
    resolver: Resolver
    failure: Failure
    failure_text: str
    responses: _containers.RepeatedCompositeFieldContainer[Response]
    reply_count: int
    answer_set_count: int
    reply_bytes: int
    stray_count: int
    strays: _containers.RepeatedCompositeFieldContainer[StrayReply]
    truncated: bool
    def __init__(self, measurement_id: _Optional[bytes] = ..., round_id: _Optional[str] = ..., started_at_us: _Optional[int] = ..., duration_us: _Optional[int] = ..., domain: _Optional[str] = ..., qtype: _Optional[int] = ..., qclass: _Optional[int] = ..., purpose: _Optional[_Union[Purpose, str]] = ..., resolver: _Optional[_Union[Resolver, _Mapping]] = ..., failure: _Optional[_Union[Failure, str]] = ..., failure_text: _Optional[str] = ..., responses: _Optional[_Iterable[_Union[Response, _Mapping]]] = ..., reply_count: _Optional[int] = ..., answer_set_count: _Optional[int] = ..., reply_bytes: _Optional[int] = ..., stray_count: _Optional[int] = ..., strays: _Optional[_Iterable[_Union[StrayReply, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("batch_id", "columns", "web")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    WEB_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    columns: MeasurementColumns
    web: WebObservationColumns
    def __init__(self, batch_id: _Optional[str] = ..., columns: _Optional[_Union[MeasurementColumns, _Mapping]] = ..., web: _Optional[_Union[WebObservationColumns, _Mapping]] = ...) -> None: ...

class MeasurementColumns(_message.Message):
    __slots__ = ("measurement_id", "round_id", "started_at_us", "duration_us", "domain", "qtype", "qclass", "purpose", "resolver_name", "resolver_address", "resolver_port", "resolver_transport", "resolver_tls_name", "resolver_url", "failure", "failure_text", "response_count", "arrival_us", "rcode", "flags", "answer_count", "cname_count", "authority_count", "additional_count", "edns", "extended_error_count", "nsid", "wire", "size", "parse_error", "answer_name", "answer_rtype", "answer_ttl", "answer_data", "cname_chain", "extended_error_code", "extended_error_text", "reply_count", "answer_set_count", "reply_bytes", "stray_count", "stray_kept_count", "truncated", "wire_truncated", "stray_arrival_us", "stray_size", "stray_reason")
    MEASUREMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_US_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    QTYPE_FIELD_NUMBER: _ClassVar[int]
    QCLASS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    RESOLVER_NAME_FIELD_NUMBER: _ClassVar[int]
    RESOLVER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RESOLVER_PORT_FIELD_NUMBER: _ClassVar[int]
    RESOLVER_TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    RESOLVER_TLS_NAME_FIELD_NUMBER: _ClassVar[int]
    RESOLVER_URL_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_US_FIELD_NUMBER: _ClassVar[int]
    RCODE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CNAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    AUTHORITY_COUNT_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    EDNS_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    NSID_FIELD_NUMBER: _ClassVar[int]
    WIRE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PARSE_ERROR_FIELD_NUMBER: _ClassVar[int]
    ANSWER_NAME_FIELD_NUMBER: _ClassVar[int]
    ANSWER_RTYPE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_TTL_FIELD_NUMBER: _ClassVar[int]
    ANSWER_DATA_FIELD_NUMBER: _ClassVar[int]
    CNAME_CHAIN_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_ERROR_TEXT_FIELD_NUMBER: _ClassVar[int]
    REPLY_COUNT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_SET_COUNT_FIELD_NUMBER: _ClassVar[int]
    REPLY_BYTES_FIELD_NUMBER: _ClassVar[int]
    STRAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    STRAY_KEPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    WIRE_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STRAY_ARRIVAL_US_FIELD_NUMBER: _ClassVar[int]
    STRAY_SIZE_FIELD_NUMBER: _ClassVar[int]
    STRAY_REASON_FIELD_NUMBER: _ClassVar[int]
    measurement_id: _containers.RepeatedScalarFieldContainer[bytes]
    round_id: _containers.RepeatedScalarFieldContainer[str]
    started_at_us: _containers.RepeatedScalarFieldContainer[int]
    duration_us: _containers.RepeatedScalarFieldContainer[int]
    domain: _containers.RepeatedScalarFieldContainer[str]
    qtype: _containers.RepeatedScalarFieldContainer[int]
    qclass: _containers.RepeatedScalarFieldContainer[int]
    purpose: _containers.RepeatedScalarFieldContainer[Purpose]
    resolver_name: _containers.RepeatedScalarFieldContainer[str]
    resolver_address: _containers.RepeatedScalarFieldContainer[str]
    resolver_port: _containers.RepeatedScalarFieldContainer[int]
    resolver_transport: _containers.RepeatedScalarFieldContainer[Transport]
    resolver_tls_name: _containers.RepeatedScalarFieldContainer[str]
    resolver_url: _containers.RepeatedScalarFieldContainer[str]
    failure: _containers.RepeatedScalarFieldContainer[Failure]
    failure_text: _containers.RepeatedScalarFieldContainer[str]
    response_count: _containers.RepeatedScalarFieldContainer[int]
    arrival_us: _containers.RepeatedScalarFieldContainer[int]
    rcode: _containers.RepeatedScalarFieldContainer[int]
    flags: _containers.RepeatedScalarFieldContainer[int]
    answer_count: _containers.RepeatedScalarFieldContainer[int]
    cname_count: _containers.RepeatedScalarFieldContainer[int]
    authority_count: _containers.RepeatedScalarFieldContainer[int]
    additional_count: _containers.RepeatedScalarFieldContainer[int]
    edns: _containers.RepeatedScalarFieldContainer[bool]
    extended_error_count: _containers.RepeatedScalarFieldContainer[int]
    nsid: _containers.RepeatedScalarFieldContainer[bytes]
    wire: _containers.RepeatedScalarFieldContainer[bytes]
    size: _containers.RepeatedScalarFieldContainer[int]
    parse_error: _containers.RepeatedScalarFieldContainer[str]
    answer_name: _containers.RepeatedScalarFieldContainer[str]
    answer_rtype: _containers.RepeatedScalarFieldContainer[int]
    answer_ttl: _containers.RepeatedScalarFieldContainer[int]
    answer_data: _containers.RepeatedScalarFieldContainer[str]
    cname_chain: _containers.RepeatedScalarFieldContainer[str]
    extended_error_code: _containers.RepeatedScalarFieldContainer[int]
    extended_error_text: _containers.RepeatedScalarFieldContainer[str]
    reply_count: _containers.RepeatedScalarFieldContainer[int]
    answer_set_count: _containers.RepeatedScalarFieldContainer[int]
    reply_bytes: _containers.RepeatedScalarFieldContainer[int]
    stray_count: _containers.RepeatedScalarFieldContainer[int]
    stray_kept_count: _containers.RepeatedScalarFieldContainer[int]
    truncated: _containers.RepeatedScalarFieldContainer[bool]
    wire_truncated: _containers.RepeatedScalarFieldContainer[bool]
    stray_arrival_us: _containers.RepeatedScalarFieldContainer[int]
    stray_size: _containers.RepeatedScalarFieldContainer[int]
    stray_reason: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, measurement_id: _Optional[_Iterable[bytes]] = ..., round_id: _Optional[_Iterable[str]] = ..., started_at_us: _Optional[_Iterable[int]] = ..., duration_us: _Optional[_Iterable[int]] = ..., domain: _Optional[_Iterable[str]] = ..., qtype: _Optional[_Iterable[int]] = ..., qclass: _Optional[_Iterable[int]] = ..., purpose: _Optional[_Iterable[_Union[Purpose, str]]] = ..., resolver_name: _Optional[_Iterable[str]] = ..., resolver_address: _Optional[_Iterable[str]] = ..., resolver_port: _Optional[_Iterable[int]] = ..., resolver_transport: _Optional[_Iterable[_Union[Transport, str]]] = ..., resolver_tls_name: _Optional[_Iterable[str]] = ..., resolver_url: _Optional[_Iterable[str]] = ..., failure: _Optional[_Iterable[_Union[Failure, str]]] = ..., failure_text: _Optional[_Iterable[str]] = ..., response_count: _Optional[_Iterable[int]] = ..., arrival_us: _Optional[_Iterable[int]] = ..., rcode: _Optional[_Iterable[int]] = ..., flags: _Optional[_Iterable[int]] = ..., answer_count: _Optional[_Iterable[int]] = ..., cname_count: _Optional[_Iterable[int]] = ..., authority_count: _Optional[_Iterable[int]] = ..., additional_count: _Optional[_Iterable[int]] = ..., edns: _Optional[_Iterable[bool]] = ..., extended_error_count: _Optional[_Iterable[int]] = ..., nsid: _Optional[_Iterable[bytes]] = ..., wire: _Optional[_Iterable[bytes]] = ..., size: _Optional[_Iterable[int]] = ..., parse_error: _Optional[_Iterable[str]] = ..., answer_name: _Optional[_Iterable[str]] = ..., answer_rtype: _Optional[_Iterable[int]] = ..., answer_ttl: _Optional[_Iterable[int]] = ..., answer_data: _Optional[_Iterable[str]] = ..., cname_chain: _Optional[_Iterable[str]] = ..., extended_error_code: _Optional[_Iterable[int]] = ..., extended_error_text: _Optional[_Iterable[str]] = ..., reply_count: _Optional[_Iterable[int]] = ..., answer_set_count: _Optional[_Iterable[int]] = ..., reply_bytes: _Optional[_Iterable[int]] = ..., stray_count: _Optional[_Iterable[int]] = ..., stray_kept_count: _Optional[_Iterable[int]] = ..., truncated: _Optional[_Iterable[bool]] = ..., wire_truncated: _Optional[_Iterable[bool]] = ..., stray_arrival_us: _Optional[_Iterable[int]] = ..., stray_size: _Optional[_Iterable[int]] = ..., stray_reason: _Optional[_Iterable[str]] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("subject", "issuer", "sans", "not_before_s", "not_after_s", "sha256")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    SANS_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_S_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    subject: str
    issuer: str
    sans: _containers.RepeatedScalarFieldContainer[str]
    not_before_s: int
    not_after_s: int
    sha256: bytes
    def __init__(self, subject: _Optional[str] = ..., issuer: _Optional[str] = ..., sans: _Optional[_Iterable[str]] = ..., not_before_s: _Optional[int] = ..., not_after_s: _Optional[int] = ..., sha256: _Optional[bytes] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class HttpExchange(_message.Message):
    __slots__ = ("url", "duration_us", "first_byte_us", "status", "reason", "http_version", "headers", "body_length", "body_truncated", "body_sha256", "body_prefix", "title", "failure", "failure_text")
    URL_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    FIRST_BYTE_US_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    HTTP_VERSION_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    BODY_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    BODY_SHA256_FIELD_NUMBER: _ClassVar[int]
    BODY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    url: str
    duration_us: int
    first_byte_us: int
    status: int
    reason: str
    http_version: str
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    body_length: int
    body_truncated: bool
    body_sha256: bytes
    body_prefix: bytes
    title: str
    failure: Failure
    failure_text: str
    def __init__(self, url: _Optional[str] = ..., duration_us: _Optional[int] = ..., first_byte_us: _Optional[int] = ..., status: _Optional[int] = ..., reason: _Optional[str] = ..., http_version: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., body_length: _Optional[int] = ..., body_truncated: _Optional[bool] = ..., body_sha256: _Optional[bytes] = ..., body_prefix: _Optional[bytes] = ..., title: _Optional[str] = ..., failure: _Optional[_Union[Failure, str]] = ..., failure_text: _Optional[str] = ...) -> None: ...

class RedirectHop(_message.Message):
    __slots__ = ("url", "duration_us", "status", "location", "title", "failure", "failure_text")
    URL_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    url: str
    duration_us: int
    status: int
    location: str
    title: str
    failure: Failure
    failure_text: str
    def __init__(self, url: _Optional[str] = ..., duration_us: _Optional[int] = ..., status: _Optional[int] = ..., location: _Optional[str] = ..., title: _Optional[str] = ..., failure: _Optional[_Union[Failure, str]] = ..., failure_text: _Optional[str] = ...) -> None: ...

class WebObservation(_message.Message):
    __slots__ = ("observation_id", "round_id", "started_at_us", "duration_us", "name", "address", "port", "scheme", "dns_measurement_ids", "connect_duration_us", "connect_failure", "connect_failure_text", "tls_attempted", "tls_duration_us", "tls_version", "tls_cipher", "certificate", "chain_verified", "name_matches", "verify_error", "tls_failure", "tls_failure_text", "http", "redirects", "truncated")
    OBSERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_US_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    DNS_MEASUREMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CONNECT_DURATION_US_FIELD_NUMBER: _ClassVar[int]
    CONNECT_FAILURE_FIELD_NUMBER: _ClassVar[int]
    CONNECT_FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    TLS_ATTEMPTED_FIELD_NUMBER: _ClassVar[int]
    TLS_DURATION_US_FIELD_NUMBER: _ClassVar[int]
    TLS_VERSION_FIELD_NUMBER: _ClassVar[int]
    TLS_CIPHER_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    CHAIN_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    NAME_MATCHES_FIELD_NUMBER: _ClassVar[int]
    VERIFY_ERROR_FIELD_NUMBER: _ClassVar[int]
    TLS_FAILURE_FIELD_NUMBER: _ClassVar[int]
    TLS_FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    REDIRECTS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    observation_id: bytes
    round_id: str
    started_at_us: int
    duration_us: int
    name: str
    address: str
    port: int
    scheme: Scheme
    dns_measurement_ids: _containers.RepeatedScalarFieldContainer[bytes]
    connect_duration_us: int
    connect_failure: Failure
    connect_failure_text: str
    tls_attempted: bool
    tls_duration_us: int
    tls_version: TlsVersion
    tls_cipher: str
    certificate: Certificate
    chain_verified: bool
    name_matches: bool
    verify_error: str
    tls_failure: Failure
    tls_failure_text: str
    http: HttpExchange
    redirects: _containers.RepeatedCompositeFieldContainer[RedirectHop]
    truncated: bool
    def __init__(self, observation_id: _Optional[bytes] = ..., round_id: _Optional[str] = ..., started_at_us: _Optional[int] = ..., duration_us: _Optional[int] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., scheme: _Optional[_Union[Scheme, str]] = ..., dns_measurement_ids: _Optional[_Iterable[bytes]] = ..., connect_duration_us: _Optional[int] = ..., connect_failure: _Optional[_Union[Failure, str]] = ..., connect_failure_text: _Optional[str] = ..., tls_attempted: _Optional[bool] = ..., tls_duration_us: _Optional[int] = ..., tls_version: _Optional[_Union[TlsVersion, str]] = ..., tls_cipher: _Optional[str] = ..., certificate: _Optional[_Union[Certificate, _Mapping]] = ..., chain_verified: _Optional[bool] = ..., name_matches: _Optional[bool] = ..., verify_error: _Optional[str] = ..., tls_failure: _Optional[_Union[Failure, str]] = ..., tls_failure_text: _Optional[str] = ..., http: _Optional[_Union[HttpExchange, _Mapping]] = ..., redirects: _Optional[_Iterable[_Union[RedirectHop, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class WebObservationColumns(_message.Message):
    __slots__ = ("observation_id", "round_id", "name", "address", "connect_failure_text", "tls_cipher", "cert_subject", "cert_issuer", "cert_sha256", "verify_error", "tls_failure_text", "http_url", "http_reason", "body_sha256", "body_prefix", "title", "http_failure_text", "http_version", "started_at_us", "duration_us", "port", "scheme", "dns_id_count", "connect_duration_us", "connect_failure", "tls_attempted", "tls_duration_us", "tls_version", "has_certificate", "cert_not_before_s", "cert_not_after_s", "san_count", "chain_verified", "name_matches", "tls_failure", "http_sent", "http_duration_us", "first_byte_us", "status", "header_count", "body_length", "body_truncated", "http_failure", "redirect_count", "truncated", "dns_measurement_id", "san", "header_name", "header_value", "redirect_url", "redirect_duration_us", "redirect_status", "redirect_location", "redirect_title", "redirect_failure", "redirect_failure_text")
    OBSERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CONNECT_FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    TLS_CIPHER_FIELD_NUMBER: _ClassVar[int]
    CERT_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CERT_ISSUER_FIELD_NUMBER: _ClassVar[int]
    CERT_SHA256_FIELD_NUMBER: _ClassVar[int]
    VERIFY_ERROR_FIELD_NUMBER: _ClassVar[int]
    TLS_FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    HTTP_URL_FIELD_NUMBER: _ClassVar[int]
    HTTP_REASON_FIELD_NUMBER: _ClassVar[int]
    BODY_SHA256_FIELD_NUMBER: _ClassVar[int]
    BODY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    HTTP_FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    HTTP_VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_US_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    DNS_ID_COUNT_FIELD_NUMBER: _ClassVar[int]
    CONNECT_DURATION_US_FIELD_NUMBER: _ClassVar[int]
    CONNECT_FAILURE_FIELD_NUMBER: _ClassVar[int]
    TLS_ATTEMPTED_FIELD_NUMBER: _ClassVar[int]
    TLS_DURATION_US_FIELD_NUMBER: _ClassVar[int]
    TLS_VERSION_FIELD_NUMBER: _ClassVar[int]
    HAS_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    CERT_NOT_BEFORE_S_FIELD_NUMBER: _ClassVar[int]
    CERT_NOT_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    SAN_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHAIN_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    NAME_MATCHES_FIELD_NUMBER: _ClassVar[int]
    TLS_FAILURE_FIELD_NUMBER: _ClassVar[int]
    HTTP_SENT_FIELD_NUMBER: _ClassVar[int]
    HTTP_DURATION_US_FIELD_NUMBER: _ClassVar[int]
    FIRST_BYTE_US_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HEADER_COUNT_FIELD_NUMBER: _ClassVar[int]
    BODY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    BODY_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    HTTP_FAILURE_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_COUNT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    DNS_MEASUREMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SAN_FIELD_NUMBER: _ClassVar[int]
    HEADER_NAME_FIELD_NUMBER: _ClassVar[int]
    HEADER_VALUE_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URL_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_DURATION_US_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_STATUS_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_LOCATION_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_TITLE_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_FAILURE_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_FAILURE_TEXT_FIELD_NUMBER: _ClassVar[int]
    observation_id: _containers.RepeatedScalarFieldContainer[bytes]
    round_id: _containers.RepeatedScalarFieldContainer[str]
    name: _containers.RepeatedScalarFieldContainer[str]
    address: _containers.RepeatedScalarFieldContainer[str]
    connect_failure_text: _containers.RepeatedScalarFieldContainer[str]
    tls_cipher: _containers.RepeatedScalarFieldContainer[str]
    cert_subject: _containers.RepeatedScalarFieldContainer[str]
    cert_issuer: _containers.RepeatedScalarFieldContainer[str]
    cert_sha256: _containers.RepeatedScalarFieldContainer[bytes]
    verify_error: _containers.RepeatedScalarFieldContainer[str]
    tls_failure_text: _containers.RepeatedScalarFieldContainer[str]
    http_url: _containers.RepeatedScalarFieldContainer[str]
    http_reason: _containers.RepeatedScalarFieldContainer[str]
    body_sha256: _containers.RepeatedScalarFieldContainer[bytes]
    body_prefix: _containers.RepeatedScalarFieldContainer[bytes]
    title: _containers.RepeatedScalarFieldContainer[str]
    http_failure_text: _containers.RepeatedScalarFieldContainer[str]
    http_version: _containers.RepeatedScalarFieldContainer[str]
    started_at_us: _containers.RepeatedScalarFieldContainer[int]
    duration_us: _containers.RepeatedScalarFieldContainer[int]
    port: _containers.RepeatedScalarFieldContainer[int]
    scheme: _containers.RepeatedScalarFieldContainer[Scheme]
    dns_id_count: _containers.RepeatedScalarFieldContainer[int]
    connect_duration_us: _containers.RepeatedScalarFieldContainer[int]
    connect_failure: _containers.RepeatedScalarFieldContainer[Failure]
    tls_attempted: _containers.RepeatedScalarFieldContainer[bool]
    tls_duration_us: _containers.RepeatedScalarFieldContainer[int]
    tls_version: _containers.RepeatedScalarFieldContainer[TlsVersion]
    has_certificate: _containers.RepeatedScalarFieldContainer[bool]
    cert_not_before_s: _containers.RepeatedScalarFieldContainer[int]
    cert_not_after_s: _containers.RepeatedScalarFieldContainer[int]
    san_count: _containers.RepeatedScalarFieldContainer[int]
    chain_verified: _containers.RepeatedScalarFieldContainer[bool]
    name_matches: _containers.RepeatedScalarFieldContainer[bool]
    tls_failure: _containers.RepeatedScalarFieldContainer[Failure]
    http_sent: _containers.RepeatedScalarFieldContainer[bool]
    http_duration_us: _containers.RepeatedScalarFieldContainer[int]
    first_byte_us: _containers.RepeatedScalarFieldContainer[int]
    status: _containers.RepeatedScalarFieldContainer[int]
    header_count: _containers.RepeatedScalarFieldContainer[int]
    body_length: _containers.RepeatedScalarFieldContainer[int]
    body_truncated: _containers.RepeatedScalarFieldContainer[bool]
    http_failure: _containers.RepeatedScalarFieldContainer[Failure]
    redirect_count: _containers.RepeatedScalarFieldContainer[int]
    truncated: _containers.RepeatedScalarFieldContainer[bool]
    dns_measurement_id: _containers.RepeatedScalarFieldContainer[bytes]
    san: _containers.RepeatedScalarFieldContainer[str]
    header_name: _containers.RepeatedScalarFieldContainer[str]
    header_value: _containers.RepeatedScalarFieldContainer[str]
    redirect_url: _containers.RepeatedScalarFieldContainer[str]
    redirect_duration_us: _containers.RepeatedScalarFieldContainer[int]
    redirect_status: _containers.RepeatedScalarFieldContainer[int]
    redirect_location: _containers.RepeatedScalarFieldContainer[str]
    redirect_title: _containers.RepeatedScalarFieldContainer[str]
    redirect_failure: _containers.RepeatedScalarFieldContainer[Failure]
    redirect_failure_text: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, observation_id: _Optional[_Iterable[bytes]] = ..., round_id: _Optional[_Iterable[str]] = ..., name: _Optional[_Iterable[str]] = ..., address: _Optional[_Iterable[str]] = ..., connect_failure_text: _Optional[_Iterable[str]] = ..., tls_cipher: _Optional[_Iterable[str]] = ..., cert_subject: _Optional[_Iterable[str]] = ..., cert_issuer: _Optional[_Iterable[str]] = ..., cert_sha256: _Optional[_Iterable[bytes]] = ..., verify_error: _Optional[_Iterable[str]] = ..., tls_failure_text: _Optional[_Iterable[str]] = ..., http_url: _Optional[_Iterable[str]] = ..., http_reason: _Optional[_Iterable[str]] = ..., body_sha256: _Optional[_Iterable[bytes]] = ..., body_prefix: _Optional[_Iterable[bytes]] = ..., title: _Optional[_Iterable[str]] = ..., http_failure_text: _Optional[_Iterable[str]] = ..., http_version: _Optional[_Iterable[str]] = ..., started_at_us: _Optional[_Iterable[int]] = ..., duration_us: _Optional[_Iterable[int]] = ..., port: _Optional[_Iterable[int]] = ..., scheme: _Optional[_Iterable[_Union[Scheme, str]]] = ..., dns_id_count: _Optional[_Iterable[int]] = ..., connect_duration_us: _Optional[_Iterable[int]] = ..., connect_failure: _Optional[_Iterable[_Union[Failure, str]]] = ..., tls_attempted: _Optional[_Iterable[bool]] = ..., tls_duration_us: _Optional[_Iterable[int]] = ..., tls_version: _Optional[_Iterable[_Union[TlsVersion, str]]] = ..., has_certificate: _Optional[_Iterable[bool]] = ..., cert_not_before_s: _Optional[_Iterable[int]] = ..., cert_not_after_s: _Optional[_Iterable[int]] = ..., san_count: _Optional[_Iterable[int]] = ..., chain_verified: _Optional[_Iterable[bool]] = ..., name_matches: _Optional[_Iterable[bool]] = ..., tls_failure: _Optional[_Iterable[_Union[Failure, str]]] = ..., http_sent: _Optional[_Iterable[bool]] = ..., http_duration_us: _Optional[_Iterable[int]] = ..., first_byte_us: _Optional[_Iterable[int]] = ..., status: _Optional[_Iterable[int]] = ..., header_count: _Optional[_Iterable[int]] = ..., body_length: _Optional[_Iterable[int]] = ..., body_truncated: _Optional[_Iterable[bool]] = ..., http_failure: _Optional[_Iterable[_Union[Failure, str]]] = ..., redirect_count: _Optional[_Iterable[int]] = ..., truncated: _Optional[_Iterable[bool]] = ..., dns_measurement_id: _Optional[_Iterable[bytes]] = ..., san: _Optional[_Iterable[str]] = ..., header_name: _Optional[_Iterable[str]] = ..., header_value: _Optional[_Iterable[str]] = ..., redirect_url: _Optional[_Iterable[str]] = ..., redirect_duration_us: _Optional[_Iterable[int]] = ..., redirect_status: _Optional[_Iterable[int]] = ..., redirect_location: _Optional[_Iterable[str]] = ..., redirect_title: _Optional[_Iterable[str]] = ..., redirect_failure: _Optional[_Iterable[_Union[Failure, str]]] = ..., redirect_failure_text: _Optional[_Iterable[str]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("stored", "duplicates", "web_stored", "web_duplicates")
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    WEB_STORED_FIELD_NUMBER: _ClassVar[int]
    WEB_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    stored: int
    duplicates: int
    web_stored: int
    web_duplicates: int
    def __init__(self, stored: _Optional[int] = ..., duplicates: _Optional[int] = ..., web_stored: _Optional[int] = ..., web_duplicates: _Optional[int] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("code", "reason", "record_index", "field")
    class Code(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CODE_UNSPECIFIED: _ClassVar[Rejection.Code]
        CODE_INVALID: _ClassVar[Rejection.Code]
        CODE_UNAVAILABLE: _ClassVar[Rejection.Code]
        CODE_TOO_LARGE: _ClassVar[Rejection.Code]
    CODE_UNSPECIFIED: Rejection.Code
    CODE_INVALID: Rejection.Code
    CODE_UNAVAILABLE: Rejection.Code
    CODE_TOO_LARGE: Rejection.Code
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RECORD_INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: Rejection.Code
    reason: str
    record_index: int
    field: str
    def __init__(self, code: _Optional[_Union[Rejection.Code, str]] = ..., reason: _Optional[str] = ..., record_index: _Optional[int] = ..., field: _Optional[str] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("batch_id", "ack", "rejection")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    ack: Ack
    rejection: Rejection
    def __init__(self, batch_id: _Optional[str] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., rejection: _Optional[_Union[Rejection, _Mapping]] = ...) -> None: ...

class CheckInRequest(_message.Message):
    __slots__ = ("probe_name", "software_version", "transports")
    PROBE_NAME_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRANSPORTS_FIELD_NUMBER: _ClassVar[int]
    probe_name: str
    software_version: str
    transports: _containers.RepeatedScalarFieldContainer[Transport]
    def __init__(self, probe_name: _Optional[str] = ..., software_version: _Optional[str] = ..., transports: _Optional[_Iterable[_Union[Transport, str]]] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ("domain", "site", "purpose")
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    domain: str
    site: str
    purpose: Purpose
    def __init__(self, domain: _Optional[str] = ..., site: _Optional[str] = ..., purpose: _Optional[_Union[Purpose, str]] = ...) -> None: ...

class ResolverSpec(_message.Message):
    __slots__ = ("name", "transport", "address", "port", "tls_name", "url")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    TLS_NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    name: str
    transport: Transport
    address: str
    port: int
    tls_name: str
    url: str
    def __init__(self, name: _Optional[str] = ..., transport: _Optional[_Union[Transport, str]] = ..., address: _Optional[str] = ..., port: _Optional[int] = ..., tls_name: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("interval_s", "jitter_s")
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    JITTER_S_FIELD_NUMBER: _ClassVar[int]
    interval_s: int
    jitter_s: int
    def __init__(self, interval_s: _Optional[int] = ..., jitter_s: _Optional[int] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("version", "targets", "resolvers", "qtypes", "schedule")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    RESOLVERS_FIELD_NUMBER: _ClassVar[int]
    QTYPES_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    version: str
    targets: _containers.RepeatedCompositeFieldContainer[Target]
    resolvers: _containers.RepeatedCompositeFieldContainer[ResolverSpec]
    qtypes: _containers.RepeatedScalarFieldContainer[int]
    schedule: Schedule
    def __init__(self, version: _Optional[str] = ..., targets: _Optional[_Iterable[_Union[Target, _Mapping]]] = ..., resolvers: _Optional[_Iterable[_Union[ResolverSpec, _Mapping]]] = ..., qtypes: _Optional[_Iterable[int]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class CheckInResponse(_message.Message):
    __slots__ = ("probe_name", "country", "asn", "assignment")
    PROBE_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    ASN_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    probe_name: str
    country: str
    asn: int
    assignment: Assignment
    def __init__(self, probe_name: _Optional[str] = ..., country: _Optional[str] = ..., asn: _Optional[int] = ..., assignment: _Optional[_Union[Assignment, _Mapping]] = ...) -> None: ...
