"""What classification reads: one stored measurement, reduced to the fields the
rules use, and the control context it is judged against. Plain values, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from blockwatch.contract.vocabulary import Failure, Purpose, Transport

# Why a stray reply did not match its query, as the probe records it (re-exported).
from blockwatch.contract.vocabulary import StrayReason as StrayReason  # noqa: PLC0414

RCODE_NOERROR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_REFUSED = 0, 2, 3, 5
FLAG_RA = 0x0080
TYPE_A, TYPE_CNAME, TYPE_AAAA = 1, 5, 28
ADDRESS_TYPES = (TYPE_A, TYPE_AAAA)


@dataclass(frozen=True, slots=True)
class Answer:
    rtype: int
    data: str


@dataclass(frozen=True, slots=True)
class LaterResponse:
    """A 2nd..nth UDP response to the same query (compact form as stored)."""

    rcode: int
    answer_data: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    measurement_id: str
    probe_name: str
    probe_country: str
    started_at_us: int
    domain: str
    resolver_name: str
    qtype: int = TYPE_A
    purpose: str = Purpose.TARGET.label       # a Purpose label, as stored
    transport: str = Transport.UDP.label      # a Transport label, as stored
    probe_asn: int = 0
    probe_control: bool = False      # an unfiltered vantage (`probes add --control`)
    received_at_us: int = 0
    failure: str = Failure.NONE.label        # a Failure label; "none": a response arrived
    rcode: int | None = None         # first response; None when none arrived
    flags: int = 0
    answers: tuple[Answer, ...] = ()
    cname_chain: tuple[str, ...] = ()
    authority_count: int = 0
    ede: tuple[tuple[int, str], ...] = ()
    response_count: int = 0
    later: tuple[LaterResponse, ...] = ()
    parse_error: str = ""
    # Every reply, kept or not, and the distinct (rcode, answer set) pairs
    # among them (0: recorded by a probe that predates these counts).
    reply_count: int = 0
    answer_set_count: int = 0
    stray_count: int = 0                 # replies that raced the query but did not match it
    stray_reasons: tuple[str, ...] = ()  # of the kept ones: wrong_id | runt | unmatched

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a.data for a in self.answers if a.rtype in ADDRESS_TYPES)

    @property
    def cnames(self) -> tuple[str, ...]:
        names = [*self.cname_chain, *(a.data for a in self.answers if a.rtype == TYPE_CNAME)]
        return tuple(n.rstrip(".").lower() for n in names)


class Outcome(enum.StrEnum):
    """What a resolution came to, ignoring why (used for controls and health)."""

    ANSWERED = "answered"    # NOERROR with answers
    NODATA = "nodata"        # NOERROR, no answers
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    OTHER_RCODE = "other_rcode"
    FAILED = "failed"        # no response (timeout, reset, TLS, ...)


def outcome(obs: Observation) -> Outcome:
    if obs.rcode is None:
        return Outcome.FAILED
    if obs.rcode == RCODE_NOERROR:
        return Outcome.ANSWERED if obs.answers else Outcome.NODATA
    return {RCODE_NXDOMAIN: Outcome.NXDOMAIN, RCODE_SERVFAIL: Outcome.SERVFAIL,
            RCODE_REFUSED: Outcome.REFUSED}.get(obs.rcode, Outcome.OTHER_RCODE)


class Health(enum.StrEnum):
    """Did the same resolver, asked by the same probe, answer a control domain
    near the same time?"""

    ANSWERS = "answers"
    FAILS = "fails"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Reference:
    """The control resolution of the same name and type nearest in time, from
    an unfiltered vantage."""

    outcome: Outcome
    addresses: tuple[str, ...] = ()
    measurement_id: str = ""
    started_at_us: int = 0


@dataclass(frozen=True, slots=True)
class ControlContext:
    reference: Reference | None = None
    health: Health = Health.UNKNOWN
    # Everything the unfiltered vantages answered for this name near this time:
    # a CDN answers differently per vantage, and one shared prefix is enough.
    control_addresses: tuple[str, ...] = field(default=())
