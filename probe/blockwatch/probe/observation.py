"""What a probe records: observations, never verdicts.

These dataclasses are the probe's own vocabulary; the protobuf classes appear
only in `wire.py`. The contract's words (Transport, Failure, Purpose,
StrayReason) are blockwatch.contract's, numbered as on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Re-exported (`X as X`): the probe's modules take them from here.
from blockwatch.contract.vocabulary import Failure as Failure  # noqa: PLC0414
from blockwatch.contract.vocabulary import Purpose as Purpose  # noqa: PLC0414
from blockwatch.contract.vocabulary import StrayReason as StrayReason  # noqa: PLC0414
from blockwatch.contract.vocabulary import Transport as Transport  # noqa: PLC0414


@dataclass(frozen=True, slots=True)
class ResolverRef:
    """The resolver a measurement went to, as the probe addressed it."""

    name: str
    address: str
    port: int
    transport: Transport
    tls_name: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    rtype: int
    ttl: int
    data: str


@dataclass(frozen=True, slots=True)
class ExtendedError:
    """RFC 8914 Extended DNS Error; `text` is EXTRA-TEXT verbatim."""

    code: int
    text: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    """One DNS response as it arrived."""

    arrival_us: int
    rcode: int
    flags: int
    answers: tuple[Record, ...] = ()
    cname_chain: tuple[str, ...] = ()
    authority_count: int = 0
    additional_count: int = 0
    edns: bool = False
    extended_errors: tuple[ExtendedError, ...] = ()
    nsid: bytes = b""
    wire: bytes = b""
    size: int = 0
    parse_error: str = ""
    wire_truncated: bool = False  # `wire` is the first bytes only; `size` is the whole


@dataclass(frozen=True, slots=True)
class StrayReply:
    """A datagram that raced a query but could not be its reply."""

    arrival_us: int  # after this query was sent
    size: int
    reason: str      # StrayReason value


@dataclass(slots=True)
class Measurement:
    """One (name, qtype, resolver) query and everything that came back."""

    measurement_id: bytes
    round_id: str
    started_at_us: int
    duration_us: int
    domain: str
    qtype: int
    qclass: int
    purpose: Purpose
    resolver: ResolverRef
    failure: Failure = Failure.NONE
    failure_text: str = ""
    responses: list[Response] = field(default_factory=list)
    # Every reply to this query (kept in `responses` or not), the distinct
    # (rcode, answer set) pairs among them and their bytes: a flood's size.
    reply_count: int = 0
    answer_set_count: int = 0
    reply_bytes: int = 0
    stray_count: int = 0                      # stray replies that raced this query
    strays: list[StrayReply] = field(default_factory=list)  # the first ones (bounded)
    truncated: bool = False                   # content was cut to fit the bounds

    @property
    def first(self) -> Response | None:
        """The response a stub resolver would have used."""
        return self.responses[0] if self.responses else None
