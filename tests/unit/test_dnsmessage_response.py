"""Responses become observations exactly as they arrived, including broken ones."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from blockwatch.probe.dnsmessage import normalize_domain, parse_response


def _reply(qname: str = "kickasstorrents.to", rdtype: str = "A") -> dns.message.Message:
    query = dns.message.make_query(qname, rdtype, use_edns=0)
    return dns.message.make_response(query)


def test_google_style_refused_with_ede_16_text_verbatim() -> None:
    reply = _reply()
    reply.set_rcode(dns.rcode.REFUSED)
    reply.use_edns(0, options=[
        dns.edns.EDEOption(dns.edns.EDECode.CENSORED, "Blocked per court order 1234/2024 "),
        dns.edns.GenericOption(dns.edns.OptionType.NSID, b"gpdns-mil")])
    r = parse_response(reply.to_wire(), "kickasstorrents.to", 1, 1500)
    assert r.rcode == dns.rcode.REFUSED
    assert [(e.code, e.text) for e in r.extended_errors] == [
        (16, "Blocked per court order 1234/2024 ")]
    assert r.nsid == b"gpdns-mil"
    assert r.edns and r.arrival_us == 1500 and not r.parse_error


def test_sinkhole_answer_with_cname_chain_is_recorded_in_order() -> None:
    reply = _reply("www.kickasstorrents.to")
    reply.answer.append(dns.rrset.from_text(
        "www.kickasstorrents.to.", 60, "IN", "CNAME", "kickasstorrents.to."))
    reply.answer.append(dns.rrset.from_text(
        "kickasstorrents.to.", 60, "IN", "CNAME", "stop.isp.example."))
    reply.answer.append(dns.rrset.from_text("stop.isp.example.", 60, "IN", "A", "83.224.65.74"))
    r = parse_response(reply.to_wire(), "www.kickasstorrents.to", 1, 10)
    assert r.cname_chain == ("kickasstorrents.to", "stop.isp.example")
    assert [(a.rtype, a.data) for a in r.answers][-1] == (1, "83.224.65.74")


def test_quad9_style_nxdomain_keeps_flags_and_empty_authority() -> None:
    reply = _reply()
    reply.set_rcode(dns.rcode.NXDOMAIN)
    reply.flags &= ~dns.flags.RA
    r = parse_response(reply.to_wire(), "kickasstorrents.to", 1, 10)
    assert r.rcode == dns.rcode.NXDOMAIN
    assert not r.flags & dns.flags.RA
    assert r.authority_count == 0


def test_changed_question_is_kept_but_flagged() -> None:
    reply = _reply("other.example")
    r = parse_response(reply.to_wire(), "kickasstorrents.to", 1, 10)
    assert r.parse_error.startswith("question does not match query")


@pytest.mark.parametrize(
    "wire",
    [b"\x00\x01\x81\x80", b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c",
     bytes(range(64))],
    ids=["short", "compression-loop", "garbage"],
)
def test_malformed_bytes_become_parse_errors_not_exceptions(wire: bytes) -> None:
    r = parse_response(wire, "kickasstorrents.to", 1, 5)
    assert r.parse_error
    assert r.wire == wire and r.size == len(wire)


def test_query_echoed_back_is_not_a_response() -> None:
    query = dns.message.make_query("kickasstorrents.to", "A")
    assert "QR bit clear" in parse_response(query.to_wire(), "kickasstorrents.to", 1, 5).parse_error


@pytest.mark.parametrize("bad", ["", ".", "a..b", "x" * 64 + ".com", "localhost"])
def test_invalid_domains_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"domain|label"):
        normalize_domain(bad)


def test_domains_are_normalised() -> None:
    assert normalize_domain("KickassTorrents.TO.") == "kickasstorrents.to"
    assert normalize_domain("bücher.de") == "xn--bcher-kva.de"
