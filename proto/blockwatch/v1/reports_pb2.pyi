from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReportFilters(_message.Message):
    __slots__ = ("order", "country", "resolver", "site", "since", "until", "by", "layer")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    RESOLVER_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    order: str
    country: str
    resolver: str
    site: str
    since: str
    until: str
    by: str
    layer: str
    def __init__(self, order: _Optional[str] = ..., country: _Optional[str] = ..., resolver: _Optional[str] = ..., site: _Optional[str] = ..., since: _Optional[str] = ..., until: _Optional[str] = ..., by: _Optional[str] = ..., layer: _Optional[str] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("name", "filters", "wait_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    filters: ReportFilters
    wait_seconds: float
    def __init__(self, name: _Optional[str] = ..., filters: _Optional[_Union[ReportFilters, _Mapping]] = ..., wait_seconds: _Optional[float] = ...) -> None: ...

class ReportStatus(_message.Message):
    __slots__ = ("measurements", "verdicts", "pending", "pending_since", "late_follow_ups", "late_since")
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    PENDING_SINCE_FIELD_NUMBER: _ClassVar[int]
    LATE_FOLLOW_UPS_FIELD_NUMBER: _ClassVar[int]
    LATE_SINCE_FIELD_NUMBER: _ClassVar[int]
    measurements: int
    verdicts: int
    pending: int
    pending_since: str
    late_follow_ups: int
    late_since: str
    def __init__(self, measurements: _Optional[int] = ..., verdicts: _Optional[int] = ..., pending: _Optional[int] = ..., pending_since: _Optional[str] = ..., late_follow_ups: _Optional[int] = ..., late_since: _Optional[str] = ...) -> None: ...

class ReportColumn(_message.Message):
    __slots__ = ("title", "kind")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    title: str
    kind: str
    def __init__(self, title: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class ReportValue(_message.Message):
    __slots__ = ("text", "integer", "number", "missing")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    text: str
    integer: int
    number: float
    missing: bool
    def __init__(self, text: _Optional[str] = ..., integer: _Optional[int] = ..., number: _Optional[float] = ..., missing: _Optional[bool] = ...) -> None: ...

class ReportRow(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[ReportValue]
    def __init__(self, values: _Optional[_Iterable[_Union[ReportValue, _Mapping]]] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("name", "title", "columns", "rows", "status")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    columns: _containers.RepeatedCompositeFieldContainer[ReportColumn]
    rows: _containers.RepeatedCompositeFieldContainer[ReportRow]
    status: ReportStatus
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[ReportColumn, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[ReportRow, _Mapping]]] = ..., status: _Optional[_Union[ReportStatus, _Mapping]] = ...) -> None: ...

class ReclassifyRequest(_message.Message):
    __slots__ = ("since",)
    SINCE_FIELD_NUMBER: _ClassVar[int]
    since: str
    def __init__(self, since: _Optional[str] = ...) -> None: ...

class ReclassifyResponse(_message.Message):
    __slots__ = ("measurements", "seconds", "classifier_version")
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIER_VERSION_FIELD_NUMBER: _ClassVar[int]
    measurements: int
    seconds: float
    classifier_version: str
    def __init__(self, measurements: _Optional[int] = ..., seconds: _Optional[float] = ..., classifier_version: _Optional[str] = ...) -> None: ...

class EvidenceRequest(_message.Message):
    __slots__ = ("kind", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    params: _containers.ScalarMap[str, str]
    def __init__(self, kind: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ...) -> None: ...
