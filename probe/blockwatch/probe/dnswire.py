"""Pure DNS message work: build query bytes once, parse responses into observations.

No sockets here. Queries carry EDNS (so resolvers can attach Extended DNS
Errors, RFC 8914) and request NSID (RFC 5001) so the answering server can
identify itself.
"""

from __future__ import annotations

import struct

import dns.name
import dns.rdatatype

from blockwatch.probe import dnsparse
from blockwatch.probe.observation import ExtendedError, Record, Response

EDNS_PAYLOAD = 1232  # DNS Flag Day 2020: avoids IP fragmentation
_ID = struct.Struct("!H")
_HEADER = struct.Struct("!HHHHHH")
CNAME = int(dns.rdatatype.CNAME)
_QR = 0x8000


def with_id(query: bytes, query_id: int) -> bytes:
    return _ID.pack(query_id) + query[2:]


def response_id(wire: bytes) -> int | None:
    """The id of a datagram, or None when it is too short to be DNS."""
    if len(wire) < 12:
        return None
    return int(_ID.unpack_from(wire)[0])


def answer_set(wire: bytes) -> tuple[object, ...]:
    """What makes replies "the same" for a forger's flood: rcode and the set of
    answer records (type and data; TTLs and order aside). Unparseable bytes are
    their own answer set."""
    try:
        parsed = dnsparse.parse(wire)
    except dnsparse.WireError:
        return ("malformed", wire[2:])
    return (parsed.rcode, frozenset((a.rtype, a.data.lower()) for a in parsed.answers))


def question_key(wire: bytes) -> bytes | None:
    """Lower-case wire name + type + class of a message's first question (None when
    it has none or it is unreadable): how a stray reply is tied to the query it raced."""
    if len(wire) < 12 or wire[4:6] == b"\0\0":
        return None
    try:
        labels, end = dnsparse.read_name(wire, 12)
    except dnsparse.WireError:
        return None
    if end + 4 > len(wire):
        return None
    return b".".join(labels).lower() + b"\0" + wire[end:end + 4]


def parse_response(
    wire: bytes, domain: str, qtype: int, arrival_us: int, *, keep_wire: bool = False
) -> Response:
    """Turn response bytes into a Response; unparseable bytes become a Response with
    `parse_error` set (and the header fields that could be read), never an exception."""
    try:
        parsed = dnsparse.parse(wire)
    except dnsparse.WireError as exc:
        return _unparsed(wire, arrival_us, str(exc))
    if not parsed.flags & _QR:
        return _unparsed(wire, arrival_us, "not a response (QR bit clear)")
    answers = tuple(Record(r.owner, r.rtype, r.ttl, r.data) for r in parsed.answers)
    return Response(
        arrival_us=arrival_us,
        rcode=parsed.rcode,
        flags=parsed.flags,
        answers=answers,
        cname_chain=_cname_chain(answers, domain),
        authority_count=parsed.authority_count,
        additional_count=parsed.additional_count,
        edns=parsed.edns,
        extended_errors=tuple(ExtendedError(code, text) for code, text in parsed.extended_errors),
        nsid=parsed.nsid,
        wire=wire if keep_wire else b"",
        size=len(wire),
        parse_error=_question_problem(parsed, domain, qtype),
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


def _question_problem(parsed: dnsparse.ParsedResponse, domain: str, qtype: int) -> str:
    # A reply whose question differs from ours is still recorded: forged or
    # broken replies are evidence, but they must not pass as the answer.
    if parsed.qdcount != 1 or parsed.question is None:
        return f"response has {parsed.qdcount} questions"
    qname, rtype, _ = parsed.question
    asked = b"" if domain in {"", "."} else domain.lower().encode("ascii")
    if qname != asked or rtype != qtype:
        shown = qname.decode("ascii", "backslashreplace") or "."
        return (f"question does not match query: {shown} "
                f"{dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rtype))}")
    return ""


def _cname_chain(answers: tuple[Record, ...], domain: str) -> tuple[str, ...]:
    targets = {r.name.lower(): r.data.rstrip(".") for r in answers if r.rtype == CNAME}
    chain: list[str] = []
    current = domain.lower()
    while current in targets and len(chain) <= len(targets):
        current = targets[current].lower()
        chain.append(current)
    return tuple(chain)


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
