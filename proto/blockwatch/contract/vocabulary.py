"""The contract's words, once: probe.proto's enums and column names as Python.

Each enum below mirrors one enum of the generated descriptor: its numbers are
the descriptor's, and importing this module fails (ContractError) when a
member is missing, extra or renumbered, so the Python copy cannot drift from
the proto. Names are spelled out (not built at run time) so that type
checkers see every member. A word's `label` is its lower-case name: what the
stored SQL `Enum8` columns, configs and reports say (tests/unit/
test_contract_vocabulary.py ties the migrations to these).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal, Self, TypeVar, get_args

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor

from blockwatch.contract.errors import ContractError
from blockwatch.v1 import probe_pb2 as pb


class Word(enum.IntEnum):
    """A contract enum: numbered as on the wire, labelled as stored."""

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Self:
        """The member labelled `label`; ValueError naming the choices otherwise."""
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValueError(f"{label!r} is not one of {', '.join(cls.labels())}") from None

    @classmethod
    def labels(cls) -> tuple[str, ...]:
        return tuple(w.label for w in cls)

    @classmethod
    def spelled(cls) -> str:
        """The members' wire names for messages: "UDP, TCP, DOT or DOH"."""
        names = [w.name for w in cls]
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


W = TypeVar("W", bound=Word)


def _mirrors(proto: EnumDescriptor, prefix: str, *, unspecified: bool = False
             ) -> Callable[[type[W]], type[W]]:
    """Check at import that `cls` has exactly the members of the proto enum
    (values named PREFIX_X become X; PREFIX_UNSPECIFIED only if asked)."""

    def check(cls: type[W]) -> type[W]:
        wanted = {v.name.removeprefix(prefix): v.number for v in proto.values
                  if unspecified or v.name != f"{prefix}UNSPECIFIED"}
        have = {w.name: int(w) for w in cls}
        if have != wanted:
            raise ContractError(f"{cls.__name__} {have} is not probe.proto's "
                                f"{proto.full_name} {wanted}")
        return cls

    return check


@_mirrors(pb.Transport.DESCRIPTOR, "TRANSPORT_")
class Transport(Word):
    """How the probe reached the resolver."""

    UDP = pb.TRANSPORT_UDP
    TCP = pb.TRANSPORT_TCP
    DOT = pb.TRANSPORT_DOT
    DOH = pb.TRANSPORT_DOH


@_mirrors(pb.Failure.DESCRIPTOR, "FAILURE_")
class Failure(Word):
    """Closed failure taxonomy; see docs/failures.md. NONE: a response arrived."""

    NONE = pb.FAILURE_NONE
    TIMEOUT = pb.FAILURE_TIMEOUT
    CONNECTION_REFUSED = pb.FAILURE_CONNECTION_REFUSED
    CONNECTION_RESET = pb.FAILURE_CONNECTION_RESET
    NETWORK_UNREACHABLE = pb.FAILURE_NETWORK_UNREACHABLE
    HOST_UNREACHABLE = pb.FAILURE_HOST_UNREACHABLE
    TLS_ERROR = pb.FAILURE_TLS_ERROR
    TLS_CERTIFICATE = pb.FAILURE_TLS_CERTIFICATE
    HTTP_ERROR = pb.FAILURE_HTTP_ERROR
    MALFORMED_RESPONSE = pb.FAILURE_MALFORMED_RESPONSE
    OS_ERROR = pb.FAILURE_OS_ERROR
    UNKNOWN = pb.FAILURE_UNKNOWN


@_mirrors(pb.Purpose.DESCRIPTOR, "PURPOSE_")
class Purpose(Word):
    """What a measurement is for."""

    TARGET = pb.PURPOSE_TARGET
    CONTROL = pb.PURPOSE_CONTROL
    IDENTITY = pb.PURPOSE_IDENTITY
    CANDIDATE = pb.PURPOSE_CANDIDATE


@_mirrors(pb.Scheme.DESCRIPTOR, "SCHEME_")
class Scheme(Word):
    """How a web follow-up talked to the address."""

    HTTP = pb.SCHEME_HTTP
    HTTPS = pb.SCHEME_HTTPS


@_mirrors(pb.TlsVersion.DESCRIPTOR, "TLS_VERSION_", unspecified=True)
class TlsVersion(Word):
    """The negotiated TLS version; UNSPECIFIED: no handshake completed."""

    UNSPECIFIED = pb.TLS_VERSION_UNSPECIFIED
    SSL3 = pb.TLS_VERSION_SSL3
    TLS1_0 = pb.TLS_VERSION_TLS1_0
    TLS1_1 = pb.TLS_VERSION_TLS1_1
    TLS1_2 = pb.TLS_VERSION_TLS1_2
    TLS1_3 = pb.TLS_VERSION_TLS1_3

    @classmethod
    def from_ssl(cls, text: str) -> TlsVersion:
        """From `SSLObject.version()` ("TLSv1.3"); an unknown one reads UNSPECIFIED."""
        return _SSL_VERSIONS.get(text, TlsVersion.UNSPECIFIED)

    @property
    def ssl_text(self) -> str:
        """As `SSLObject.version()` spells it ("" for UNSPECIFIED)."""
        return next((k for k, v in _SSL_VERSIONS.items() if v is self), "")


_SSL_VERSIONS = {"SSLv3": TlsVersion.SSL3, "TLSv1": TlsVersion.TLS1_0,
                 "TLSv1.1": TlsVersion.TLS1_1, "TLSv1.2": TlsVersion.TLS1_2,
                 "TLSv1.3": TlsVersion.TLS1_3}


@_mirrors(pb.Rejection.Code.DESCRIPTOR, "CODE_", unspecified=True)
class RejectionCode(Word):
    """Why the collector refused a batch (Rejection.code). UNSPECIFIED: a code
    this side does not know, or an answer that is neither ack nor rejection."""

    UNSPECIFIED = pb.Rejection.CODE_UNSPECIFIED
    INVALID = pb.Rejection.CODE_INVALID          # malformed: retrying cannot help
    UNAVAILABLE = pb.Rejection.CODE_UNAVAILABLE  # storage down: keep it, retry
    TOO_LARGE = pb.Rejection.CODE_TOO_LARGE      # over the collector's limits: split it


class StrayReason(enum.StrEnum):
    """Why a datagram that raced a UDP query was not its reply (StrayReply.reason,
    a string on the wire; docs/failures.md)."""

    WRONG_ID = "wrong_id"      # a response to this very question under an id not sent
    RUNT = "runt"              # shorter than a DNS header
    UNMATCHED = "unmatched"    # a DNS header whose id and question match no open query


# The transports as configs spell them. A Literal (what msgspec decodes and
# type checkers narrow) cannot be built from the enum, so it is checked here.
TransportLabel = Literal["udp", "tcp", "dot", "doh"]
if get_args(TransportLabel) != Transport.labels():
    raise ContractError(f"TransportLabel {get_args(TransportLabel)} is not "
                        f"{Transport.labels()}")


class ColumnKind(enum.StrEnum):
    """The scalar type of a column of the columnar wire form."""

    STRING = "string"
    BYTES = "bytes"
    BOOL = "bool"
    INT64 = "int64"
    UINT32 = "uint32"
    UINT64 = "uint64"
    ENUM = "enum"      # a Word's number (int32 on the wire)


_KINDS = {FieldDescriptor.TYPE_STRING: ColumnKind.STRING,
          FieldDescriptor.TYPE_BYTES: ColumnKind.BYTES,
          FieldDescriptor.TYPE_BOOL: ColumnKind.BOOL,
          FieldDescriptor.TYPE_INT64: ColumnKind.INT64,
          FieldDescriptor.TYPE_UINT32: ColumnKind.UINT32,
          FieldDescriptor.TYPE_UINT64: ColumnKind.UINT64,
          FieldDescriptor.TYPE_ENUM: ColumnKind.ENUM}


def _columns(name: str) -> Mapping[str, ColumnKind]:
    """Field name -> kind of a columnar message, in declaration order."""
    message = pb.DESCRIPTOR.message_types_by_name[name]
    kinds: dict[str, ColumnKind] = {}
    for f in message.fields:
        if f.type not in _KINDS:
            raise ContractError(f"{message.name}.{f.name}: no column kind for type {f.type}")
        kinds[f.name] = _KINDS[f.type]
    return MappingProxyType(kinds)


# The fields of MeasurementColumns and WebObservationColumns: the column names
# probes send and the collector reads.
MEASUREMENT_COLUMNS = _columns("MeasurementColumns")
WEB_COLUMNS = _columns("WebObservationColumns")
