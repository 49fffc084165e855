"""Query bytes the probe writes itself must equal dnspython's encoding."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype
import pytest

from blockwatch.probe.dnsmessage import EDNS_PAYLOAD, encode_query, with_id


def build_query(domain: str, qtype: int, qclass: int = 1, *, nsid: bool = True) -> bytes:
    """dnspython's encoding of the same query: the reference. Every query carries
    an EDE option with INFO-CODE 0 and no text: the structured-DNS-error draft's
    signal of support (draft-ietf-dnsop-structured-dns-error)."""
    options: list[dns.edns.Option] = (
        [dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")] if nsid else [])
    options.append(dns.edns.EDEOption(dns.edns.EDECode.OTHER))
    query = dns.message.make_query(
        domain, dns.rdatatype.RdataType.make(qtype), dns.rdataclass.RdataClass.make(qclass),
        use_edns=0, payload=EDNS_PAYLOAD, options=options)
    query.id = 0
    return query.to_wire()


@pytest.mark.parametrize(
    ("domain", "qtype", "qclass"),
    [("kickasstorrents.to", 1, 1), ("kickasstorrents.to", 28, 1), ("id.server", 16, 3),
     ("xn--bcher-kva.de", 1, 1), ("a.b.c.d.e.example-control.org", 65, 1), (".", 2, 1)],
)
def test_encode_query_matches_dnspython(domain: str, qtype: int, qclass: int) -> None:
    assert encode_query(domain, qtype, qclass) == build_query(domain, qtype, qclass)
    assert encode_query(domain, qtype, qclass, nsid=False) == build_query(
        domain, qtype, qclass, nsid=False)


def test_query_carries_edns_nsid_and_recursion_desired() -> None:
    message = dns.message.from_wire(with_id(encode_query("limetorrents.pro", 1), 4242))
    assert message.id == 4242
    assert message.edns == 0 and message.payload == 1232
    assert [int(o.otype) for o in message.options] == [3, 15]  # NSID requested, EDE
    assert message.flags & dns.flags.RD


def test_query_signals_structured_dns_error_support_with_an_empty_ede_option() -> None:
    """The draft's signal: an EDE option of length 2, INFO-CODE 0, no EXTRA-TEXT."""
    for nsid in (True, False):
        wire = encode_query("limetorrents.pro", 1, nsid=nsid)
        assert wire.endswith(b"\x00\x0f\x00\x02\x00\x00")
        message = dns.message.from_wire(wire)
        ede = [o for o in message.options if isinstance(o, dns.edns.EDEOption)]
        assert len(ede) == 1 and ede[0].code == 0 and not ede[0].text
