"""DNS messages on the wire: build queries, read replies into observations.

No sockets here. Queries carry EDNS (so resolvers can attach Extended DNS
Errors, RFC 8914), request NSID (RFC 5001) so the answering server can
identify itself, and signal structured-DNS-error support.

Both directions are written by hand rather than through dnspython's
`Message`, which builds rrsets, names and rdata objects the probe throws
away; `bench/dnsparse.py` measures the difference. Replies are read in one
pass over the wire (RFC 1035 section 4), in wire order with each record's own
TTL. Address and name records are rendered here; any other type is rendered
by dnspython's rdata code, so presentation format is dnspython's everywhere.
`tests/unit/test_dnsmessage_read.py` checks the reader against dnspython on
generated and hostile messages, `tests/unit/test_dnsmessage_query.py` the
query bytes byte for byte.
"""

from __future__ import annotations

import re
import socket
import struct
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype

from blockwatch.probe.errors import ProbeError
from blockwatch.probe.observation import ExtendedError, Record, Response

EDNS_PAYLOAD = 1232  # DNS Flag Day 2020: avoids IP fragmentation

_ID = struct.Struct("!H")
_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_TYPE_CLASS = struct.Struct("!HH")
_QR, _RD = 0x8000, 0x0100
_A, _NS, _CNAME, _PTR, _AAAA, _DNAME, _OPT = 1, 2, 5, 12, 28, 39, 41
_NAME_TYPES = {_NS, _CNAME, _PTR, _DNAME}
_EDE, _NSID = 15, 3
_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_*-]+")
_MAX_POINTERS = 128  # a name has at most 127 labels: more jumps mean a loop


class WireError(ProbeError, ValueError):
    """The bytes are not a well-formed DNS message; says where and why.
    (Still a ValueError: what malformed input raises in Python.)"""


# --- names --------------------------------------------------------------------

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


def encode_name(domain: str) -> bytes:
    """Wire form of an already normalised (ASCII, valid) name; "." is the root."""
    if domain in {"", "."}:
        return b"\x00"
    out = bytearray()
    for label in domain.encode("ascii").split(b"."):
        out.append(len(label))
        out += label
    out.append(0)
    return bytes(out)


def read_name(wire: bytes, offset: int) -> tuple[list[bytes], int]:
    """Labels of the name at `offset` (following compression pointers) and the
    offset just after it in the original position."""
    labels: list[bytes] = []
    end = -1
    jumps = 0
    length = len(wire)
    total = 0
    while True:
        if offset >= length:
            raise WireError(f"name runs past the end of the message at offset {offset}")
        size = wire[offset]
        if size == 0:
            return labels, (offset + 1 if end < 0 else end)
        if size & 0xC0 == 0xC0:
            if offset + 1 >= length:
                raise WireError("truncated compression pointer")
            jumps += 1
            if jumps > _MAX_POINTERS:
                raise WireError("compression pointer loop")
            target = ((size & 0x3F) << 8) | wire[offset + 1]
            if end < 0:
                end = offset + 2
            if target >= offset:
                raise WireError(f"compression pointer forward or to itself at offset {offset}")
            offset = target
            continue
        if size & 0xC0:
            raise WireError(f"unknown label type {size >> 6:#x} at offset {offset}")
        label = wire[offset + 1: offset + 1 + size]
        if len(label) != size:
            raise WireError(f"label runs past the end of the message at offset {offset}")
        total += size + 1
        if total > 254:
            raise WireError("name longer than 255 octets")
        labels.append(label)
        offset += 1 + size


def name_text(labels: list[bytes], *, final_dot: bool) -> str:
    if not labels:
        return "."
    if all(_PLAIN_LABEL.fullmatch(label) for label in labels):
        text = b".".join(labels).decode("ascii")
    else:  # escaping of unusual bytes is dnspython's, as everywhere else
        text = dns.name.Name([*labels, b""]).to_text(omit_final_dot=True)
    return text + "." if final_dot else text


# --- queries ------------------------------------------------------------------

_NSID_OPTION = struct.pack("!HH", _NSID, 0)  # NSID requested: empty option
# Structured DNS errors (draft-ietf-dnsop-structured-dns-error): a client says
# it reads I-JSON in EXTRA-TEXT by sending an EDE option (code 15) of length 2,
# INFO-CODE 0, no text. Resolvers that do not know the draft ignore it (RFC 8914
# gives EDE in queries no other meaning).
_SDE_OPTION = struct.pack("!HHH", _EDE, 2, 0)


def _opt_record(nsid: bool) -> bytes:
    options = (_NSID_OPTION if nsid else b"") + _SDE_OPTION
    # root owner, TYPE OPT(41), CLASS = UDP payload size, TTL = ext-rcode/version/flags
    return b"\x00" + _RR_FIXED.pack(_OPT, EDNS_PAYLOAD, 0, len(options)) + options


_OPT_NSID = _opt_record(True)
_OPT_PLAIN = _opt_record(False)


def encode_query(domain: str, qtype: int, qclass: int = 1, *, nsid: bool = True) -> bytes:
    """A recursive query (RD set, id 0) with an EDNS(0) OPT record asking for NSID
    (unless `nsid` is false) and signalling structured-DNS-error support. `domain`
    must be normalised already (normalize_domain)."""
    header = _HEADER.pack(0, _RD, 1, 0, 0, 1)
    question = encode_name(domain) + _TYPE_CLASS.pack(qtype, qclass)
    return header + question + (_OPT_NSID if nsid else _OPT_PLAIN)


def with_id(query: bytes, query_id: int) -> bytes:
    return _ID.pack(query_id) + query[2:]


# --- reading replies ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RawRecord:
    owner: str
    rtype: int
    ttl: int
    data: str


@dataclass(frozen=True, slots=True)
class Message:
    """What the reader keeps of a DNS message."""

    query_id: int
    flags: int
    rcode: int            # with the EDNS extended bits
    question: tuple[bytes, int, int] | None  # (lower-case qname wire, qtype, qclass)
    qdcount: int
    answers: tuple[RawRecord, ...]
    authority_count: int
    additional_count: int  # not counting OPT
    edns: bool
    extended_errors: tuple[tuple[int, str], ...]
    nsid: bytes


def read_message(wire: bytes) -> Message:
    """Read a whole message; raises WireError on anything malformed."""
    if len(wire) < 12:
        raise WireError(f"message of {len(wire)} bytes is shorter than a header")
    query_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    offset = 12
    question = None
    for _ in range(qdcount):
        labels, offset = read_name(wire, offset)
        if offset + 4 > len(wire):
            raise WireError("question runs past the end of the message")
        qtype, qclass = _TYPE_CLASS.unpack_from(wire, offset)
        offset += 4
        if question is None:
            question = (b".".join(labels).lower(), qtype, qclass)
    answers: list[RawRecord] = []
    authority = additional = 0
    edns = False
    ext_rcode = 0
    errors: list[tuple[int, str]] = []
    nsid = b""
    for index in range(ancount + nscount + arcount):
        labels, offset = read_name(wire, offset)
        if offset + 10 > len(wire):
            raise WireError(f"record {index} runs past the end of the message")
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(wire, offset)
        start = offset + 10
        offset = start + rdlen
        if offset > len(wire):
            raise WireError(f"record {index}: RDLENGTH {rdlen} runs past the end of the message")
        if index < ancount:
            answers.append(RawRecord(name_text(labels, final_dot=False), rtype, ttl,
                                     _rdata_text(wire, rtype, rclass, start, rdlen)))
        elif index < ancount + nscount:
            authority += 1
        elif rtype == _OPT:
            if edns:
                raise WireError("more than one OPT record")
            edns = True
            ext_rcode = ttl >> 24
            nsid = _read_options(wire, start, offset, errors) or nsid
        else:
            additional += 1
    if offset != len(wire):
        raise WireError(f"{len(wire) - offset} bytes of trailing junk")
    return Message(
        query_id=query_id, flags=flags, rcode=(ext_rcode << 4) | (flags & 0xF),
        question=question, qdcount=qdcount, answers=tuple(answers), authority_count=authority,
        additional_count=additional, edns=edns, extended_errors=tuple(errors), nsid=nsid)


def _rdata_text(wire: bytes, rtype: int, rclass: int, start: int, rdlen: int) -> str:
    if rtype == _A and rclass == 1:
        if rdlen != 4:
            raise WireError(f"A record with RDLENGTH {rdlen}")
        return socket.inet_ntop(socket.AF_INET, wire[start:start + 4])
    if rtype == _AAAA and rclass == 1:
        if rdlen != 16:
            raise WireError(f"AAAA record with RDLENGTH {rdlen}")
        return socket.inet_ntop(socket.AF_INET6, wire[start:start + 16])
    if rtype in _NAME_TYPES:
        labels, end = read_name(wire, start)
        if end != start + rdlen:
            raise WireError(f"name in rdata does not fill RDLENGTH {rdlen}")
        return name_text(labels, final_dot=True)
    import dns.rdata  # only for unusual types: it loads every rdata class

    try:
        rdata = dns.rdata.from_wire(
            dns.rdataclass.RdataClass.make(rclass), dns.rdatatype.RdataType.make(rtype),
            wire, start, rdlen)
    except (dns.exception.DNSException, ValueError, IndexError, UnicodeError) as exc:
        name = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rtype))
        raise WireError(f"bad {name} rdata: {exc}") from exc
    return str(rdata.to_text())


def _read_options(wire: bytes, offset: int, end: int, errors: list[tuple[int, str]]) -> bytes:
    nsid = b""
    while offset < end:
        if offset + 4 > end:
            raise WireError("EDNS option header runs past the OPT record")
        code, size = _TYPE_CLASS.unpack_from(wire, offset)
        value = wire[offset + 4: offset + 4 + size]
        offset += 4 + size
        if offset > end:
            raise WireError("EDNS option runs past the OPT record")
        if code == _EDE:
            if size < 2:
                raise WireError("Extended DNS Error option shorter than its code")
            # EXTRA-TEXT is UTF-8 (RFC 8914); keep it verbatim, bad bytes replaced
            text = value[2:].rstrip(b"\x00").decode("utf-8", "replace")
            errors.append((int.from_bytes(value[:2], "big"), text))
        elif code == _NSID:
            nsid = value
    return nsid


# --- replies as observations ----------------------------------------------------

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
        message = read_message(wire)
    except WireError:
        return ("malformed", wire[2:])
    return (message.rcode, frozenset((a.rtype, a.data.lower()) for a in message.answers))


def question_key(wire: bytes) -> bytes | None:
    """Lower-case wire name + type + class of a message's first question (None when
    it has none or it is unreadable): how a stray reply is tied to the query it raced."""
    if len(wire) < 12 or wire[4:6] == b"\0\0":
        return None
    try:
        labels, end = read_name(wire, 12)
    except WireError:
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
        message = read_message(wire)
    except WireError as exc:
        return _unparsed(wire, arrival_us, str(exc))
    if not message.flags & _QR:
        return _unparsed(wire, arrival_us, "not a response (QR bit clear)")
    answers = tuple(Record(r.owner, r.rtype, r.ttl, r.data) for r in message.answers)
    return Response(
        arrival_us=arrival_us,
        rcode=message.rcode,
        flags=message.flags,
        answers=answers,
        cname_chain=_cname_chain(answers, domain),
        authority_count=message.authority_count,
        additional_count=message.additional_count,
        edns=message.edns,
        extended_errors=tuple(ExtendedError(code, text) for code, text in message.extended_errors),
        nsid=message.nsid,
        wire=wire if keep_wire else b"",
        size=len(wire),
        parse_error=_question_problem(message, domain, qtype),
    )


def _unparsed(wire: bytes, arrival_us: int, error: str) -> Response:
    rcode = flags = 0
    if len(wire) >= 4:
        _, flags = _TYPE_CLASS.unpack_from(wire)
        rcode = flags & 0xF
    return Response(
        arrival_us=arrival_us, rcode=rcode, flags=flags, wire=wire, size=len(wire),
        parse_error=error,
    )


def _question_problem(message: Message, domain: str, qtype: int) -> str:
    # A reply whose question differs from ours is still recorded: forged or
    # broken replies are evidence, but they must not pass as the answer.
    if message.qdcount != 1 or message.question is None:
        return f"response has {message.qdcount} questions"
    qname, rtype, _ = message.question
    asked = b"" if domain in {"", "."} else domain.lower().encode("ascii")
    if qname != asked or rtype != qtype:
        shown = qname.decode("ascii", "backslashreplace") or "."
        return (f"question does not match query: {shown} "
                f"{dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rtype))}")
    return ""


def _cname_chain(answers: tuple[Record, ...], domain: str) -> tuple[str, ...]:
    targets = {r.name.lower(): r.data.rstrip(".") for r in answers if r.rtype == _CNAME}
    chain: list[str] = []
    current = domain.lower()
    while current in targets and len(chain) <= len(targets):
        current = targets[current].lower()
        chain.append(current)
    return tuple(chain)
