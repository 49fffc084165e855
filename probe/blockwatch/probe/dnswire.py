"""Pure DNS message work: build query bytes once, parse responses into observations.

No sockets here. Queries carry EDNS (so resolvers can attach Extended DNS
Errors, RFC 8914) and request NSID (RFC 5001) so the answering server can
identify itself.
"""

from __future__ import annotations

import struct

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

from blockwatch.probe.observation import ExtendedError, Record, Response

EDNS_PAYLOAD = 1232  # DNS Flag Day 2020: avoids IP fragmentation
_ID = struct.Struct("!H")
_HEADER = struct.Struct("!HHHHHH")
CNAME = int(dns.rdatatype.CNAME)


def build_query(domain: str, qtype: int, qclass: int = 1, *, nsid: bool = True) -> bytes:
    """Wire bytes of a recursive query with id 0; set the id with `with_id`."""
    options: list[dns.edns.Option] = (
        [dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")] if nsid else [])
    query = dns.message.make_query(
        domain,
        dns.rdatatype.RdataType.make(qtype),
        dns.rdataclass.RdataClass.make(qclass),
        use_edns=0,
        payload=EDNS_PAYLOAD,
        options=options,
    )
    query.id = 0
    return query.to_wire()


def with_id(query: bytes, query_id: int) -> bytes:
    return _ID.pack(query_id) + query[2:]


def response_id(wire: bytes) -> int | None:
    """The id of a datagram, or None when it is too short to be DNS."""
    if len(wire) < 12:
        return None
    return int(_ID.unpack_from(wire)[0])


def parse_response(
    wire: bytes, domain: str, qtype: int, arrival_us: int, *, keep_wire: bool = False
) -> Response:
    """Turn response bytes into a Response; unparseable bytes become a Response with
    `parse_error` set (and the header fields that could be read), never an exception."""
    try:
        message = dns.message.from_wire(wire)
    except (dns.exception.DNSException, ValueError, IndexError, UnicodeError) as exc:
        return _unparsed(wire, arrival_us, f"{type(exc).__name__}: {exc}")
    if not message.flags & dns.flags.QR:
        return _unparsed(wire, arrival_us, "not a response (QR bit clear)")
    problem = _question_problem(message, domain, qtype)
    answers: list[Record] = []
    for rrset in message.answer:
        owner = rrset.name.to_text(omit_final_dot=True)
        for rdata in rrset:
            answers.append(Record(owner, int(rrset.rdtype), int(rrset.ttl), rdata.to_text()))
    return Response(
        arrival_us=arrival_us,
        rcode=int(message.rcode()),
        flags=int(message.flags),
        answers=tuple(answers),
        cname_chain=_cname_chain(answers, domain),
        authority_count=sum(len(r) for r in message.authority),
        additional_count=sum(len(r) for r in message.additional),
        edns=message.edns >= 0,
        extended_errors=tuple(
            ExtendedError(int(e.code), e.text or "") for e in message.extended_errors()
        ),
        nsid=_nsid(message),
        wire=wire if keep_wire else b"",
        size=len(wire),
        parse_error=problem,
    )


def _unparsed(wire: bytes, arrival_us: int, error: str) -> Response:
    rcode = flags = 0
    if len(wire) >= 4:
        _, flags = struct.unpack_from("!HH", wire)
        rcode = flags & 0xF
    return Response(
        arrival_us=arrival_us, rcode=rcode, flags=flags, wire=wire, size=len(wire),
        parse_error=error,
    )


def _question_problem(message: dns.message.Message, domain: str, qtype: int) -> str:
    # A reply whose question differs from ours is still recorded: forged or
    # broken replies are evidence, but they must not pass as the answer.
    if len(message.question) != 1:
        return f"response has {len(message.question)} questions"
    question = message.question[0]
    asked = dns.name.from_text(domain)
    if question.name != asked or int(question.rdtype) != qtype:
        return (
            "question does not match query: "
            f"{question.name.to_text(omit_final_dot=True)} "
            f"{dns.rdatatype.to_text(question.rdtype)}"
        )
    return ""


def _cname_chain(answers: list[Record], domain: str) -> tuple[str, ...]:
    targets = {r.name.lower(): r.data.rstrip(".") for r in answers if r.rtype == CNAME}
    chain: list[str] = []
    current = domain.lower()
    while current in targets and len(chain) <= len(targets):
        current = targets[current].lower()
        chain.append(current)
    return tuple(chain)


def _nsid(message: dns.message.Message) -> bytes:
    for option in message.options:
        if option.otype == dns.edns.OptionType.NSID:
            return option.to_wire() or b""
    return b""


def normalize_domain(domain: str) -> str:
    """Lower-case, no trailing dot, IDNA-encoded; raises ValueError when invalid."""
    text = domain.strip()
    if not text or text in {".", ".."}:
        raise ValueError("empty domain name")
    try:
        ascii_text = text if text.isascii() else text.encode("idna").decode("ascii")
        name = dns.name.from_text(ascii_text)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise ValueError(f"invalid domain name {domain!r}: {exc}") from exc
    if len(name.labels) < 3:  # the root label counts: "localhost." has two
        raise ValueError(f"invalid domain name {domain!r}: a single label is not a site")
    return name.to_text(omit_final_dot=True).lower()
