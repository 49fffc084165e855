"""A strict, fast reader of DNS responses into observations.

dnspython's `Message.from_wire` costs ~80-100 µs per response: it builds
rrsets, names and rdata objects the probe throws away. This reader walks the
wire once and keeps what a measurement records (RFC 1035 section 4), in wire
order with each record's own TTL. Address and name records are rendered here;
any other type is rendered by dnspython's rdata code, so presentation format
is dnspython's everywhere. `tests/unit/test_dnsparse.py` checks it against
dnspython on generated and hostile messages.
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

_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_EDNS_OPTION = struct.Struct("!HH")
_A, _NS, _CNAME, _PTR, _AAAA, _DNAME, _OPT = 1, 2, 5, 12, 28, 39, 41
_NAME_TYPES = {_NS, _CNAME, _PTR, _DNAME}
_EDE, _NSID = 15, 3
_PLAIN_LABEL = re.compile(rb"[A-Za-z0-9_*-]+")
_MAX_POINTERS = 128  # a name has at most 127 labels: more jumps mean a loop


class WireError(ValueError):
    """The bytes are not a well-formed DNS message; says where and why."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    owner: str
    rtype: int
    ttl: int
    data: str


@dataclass(frozen=True, slots=True)
class ParsedResponse:
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


def parse(wire: bytes) -> ParsedResponse:
    """Read a whole response; raises WireError on anything malformed."""
    if len(wire) < 12:
        raise WireError(f"message of {len(wire)} bytes is shorter than a header")
    query_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    offset = 12
    question = None
    for _ in range(qdcount):
        labels, offset = read_name(wire, offset)
        if offset + 4 > len(wire):
            raise WireError("question runs past the end of the message")
        qtype, qclass = struct.unpack_from("!HH", wire, offset)
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
    return ParsedResponse(
        query_id=query_id, flags=flags, rcode=(ext_rcode << 4) | (flags & 0xF),
        question=question, qdcount=qdcount, answers=tuple(answers), authority_count=authority,
        additional_count=additional, edns=edns, extended_errors=tuple(errors), nsid=nsid)


def _read_options(wire: bytes, offset: int, end: int, errors: list[tuple[int, str]]) -> bytes:
    nsid = b""
    while offset < end:
        if offset + 4 > end:
            raise WireError("EDNS option header runs past the OPT record")
        code, size = _EDNS_OPTION.unpack_from(wire, offset)
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
