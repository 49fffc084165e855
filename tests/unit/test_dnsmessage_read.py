"""The probe's fast response reader agrees with dnspython, and refuses hostile bytes
with a reason instead of crashing."""

from __future__ import annotations

import contextlib
import struct

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockwatch.probe.dnsmessage import WireError, encode_name, read_message

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
NAME = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).map(str)
RECORD = st.one_of(
    st.tuples(NAME, st.just("A"), IPV4),
    st.tuples(NAME, st.just("AAAA"), IPV6),
    st.tuples(NAME, st.just("CNAME"), NAME.map(lambda n: n + ".")),
    st.tuples(NAME, st.just("TXT"), st.text("abc xyz\\\"", max_size=20).map(
        lambda t: '"' + t.replace("\\", "").replace('"', "") + '"')),
    st.tuples(NAME, st.just("MX"), NAME.map(lambda n: "10 " + n + ".")),
)


def _reference(wire: bytes) -> dict[str, object]:
    m = dns.message.from_wire(wire)
    return {
        "rcode": int(m.rcode()),
        "flags": int(m.flags),
        "answers": sorted((rr.name.to_text(omit_final_dot=True), int(rr.rdtype), rd.to_text())
                          for rr in m.answer for rd in rr),
        "authority": sum(len(r) for r in m.authority),
        "additional": sum(len(r) for r in m.additional),
        "edns": m.edns >= 0,
        "ede": [(int(e.code), e.text or "") for e in m.extended_errors()],
    }


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(RECORD, max_size=6, unique_by=lambda r: (r[0], r[1])),
    rcode=st.sampled_from([0, 2, 3, 5, 16]),
    ra=st.booleans(),
    ede=st.lists(st.tuples(st.integers(0, 30), st.text(max_size=30)), max_size=2),
    use_edns=st.booleans(),
)
def test_agrees_with_dnspython(records: list[tuple[str, str, str]], rcode: int, ra: bool,
                               ede: list[tuple[int, str]], use_edns: bool) -> None:
    query = dns.message.make_query("kickasstorrents.to", "A", use_edns=0)
    reply = dns.message.make_response(query)
    for owner, rtype, data in records:
        reply.answer.append(dns.rrset.from_text(owner + ".", 300, "IN", rtype, data))
    if not ra:
        reply.flags &= ~dns.flags.RA
    options: list[dns.edns.Option] = [
        dns.edns.EDEOption(dns.edns.EDECode.make(code), text) for code, text in ede]
    reply.use_edns(0 if use_edns else -1, options=options if use_edns else [])
    if rcode > 15 and not use_edns:
        rcode = 5
    reply.set_rcode(dns.rcode.Rcode(rcode))
    wire = reply.to_wire()
    ours = read_message(wire)
    expected = _reference(wire)
    assert ours.rcode == expected["rcode"]
    assert ours.flags == expected["flags"]
    assert sorted((r.owner, r.rtype, r.data) for r in ours.answers) == expected["answers"]
    assert ours.authority_count == expected["authority"]
    assert ours.additional_count == expected["additional"]
    assert ours.edns == expected["edns"]
    assert list(ours.extended_errors) == expected["ede"]
    assert ours.question == (b"kickasstorrents.to", 1, 1)


def _header(ancount: int = 0, qdcount: int = 1) -> bytes:
    return struct.pack("!HHHHHH", 0x1234, 0x8180, qdcount, ancount, 0, 0)


QUESTION = encode_name("kickasstorrents.to") + struct.pack("!HH", 1, 1)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"\x12\x34\x81", "shorter than a header"),
        (_header() + b"\xc0\x0c" + b"\x00\x01\x00\x01", "pointer forward or to itself"),
        (_header(ancount=1) + QUESTION + b"\xc0\x40\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04"
         + b"\x01\x02\x03\x04", "pointer forward"),
        (_header(ancount=1) + QUESTION + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x10"
         + b"\x01\x02\x03\x04", "RDLENGTH 16 runs past the end"),
        (_header(ancount=1) + QUESTION + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x03"
         + b"\x01\x02\x03", "A record with RDLENGTH 3"),
        (_header() + QUESTION + b"junk", "trailing junk"),
        (_header() + b"\x05abc", "label runs past the end"),
        (_header() + b"\x80abc\x00\x00\x01\x00\x01", "unknown label type"),
        (_header() + QUESTION[:-2], "question runs past the end"),
    ],
    ids=["short", "self-pointer", "forward-pointer", "rdlength-overrun", "bad-a-length",
         "trailing-junk", "label-overrun", "label-type", "cut-question"],
)
def test_hostile_bytes_are_refused_with_a_reason(wire: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        read_message(wire)


def test_pointer_loop_is_caught() -> None:
    # two names pointing at each other's tails: 12 -> label "a" -> pointer 12
    wire = _header(qdcount=1) + b"\x01a\xc0\x0c" + b"\x00\x01\x00\x01"
    with pytest.raises(WireError, match=r"pointer|longer than 255"):
        read_message(wire)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(wire: bytes) -> None:
    with contextlib.suppress(WireError):  # refusing is fine; any other exception is not
        read_message(wire)
