"""The lab's real DNS servers answer what a user behind each policy would see.

Runs inside a network namespace (the main conftest unshares one and brings lo
up); every address here is 127.x, and no resolver can reach past the lab NSD.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.lab.unbound import Unbound
from tests.lab.world import (
    GOOGLE_ADDR,
    GOOGLE_TEXT,
    ISP_ADDR,
    KRES_NX_ADDR,
    NX_TEXT,
    QUAD9_ADDR,
    TLS_NAME,
    Lab,
)
from tests.lab.zones import CONTROL_NAME, STOP_PAGE_AGCOM, WHOAMI_NAME

pytestmark = pytest.mark.lab



def ask(server: str, name: str, rdtype: str = "A", timeout: float = 2.0) -> dns.message.Message:
    """A stub's query: RD, EDNS0 (resolvers attach EDE only then) asking for NSID."""
    q = dns.message.make_query(
        name, rdtype, use_edns=0, options=[dns.edns.GenericOption(dns.edns.NSID, b"")]
    )
    return dns.query.udp(q, server, timeout=timeout)


def addresses(r: dns.message.Message, rdtype: str = "A") -> set[str]:
    want = dns.rdatatype.from_text(rdtype)
    return {rd.to_text() for rrset in r.answer if rrset.rdtype == want for rd in rrset}


def edes(r: dns.message.Message) -> list[tuple[int, str | None]]:
    return [(int(o.code), o.text) for o in r.options if isinstance(o, dns.edns.EDEOption)]


def nsid(r: dns.message.Message) -> bytes | None:
    return next((o.nsid for o in r.options if isinstance(o, dns.edns.NSIDOption)), None)


# -- every resolver resolves what is not blocked ------------------------------


@pytest.mark.parametrize("addr", [ISP_ADDR, QUAD9_ADDR, GOOGLE_ADDR, KRES_NX_ADDR])
@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        (CONTROL_NAME, "A"),
        (CONTROL_NAME, "AAAA"),
        ("cdn." + CONTROL_NAME, "A"),
        (WHOAMI_NAME, "TXT"),
    ],
)
def test_unblocked_names_resolve_to_zone_truth(lab: Lab, addr: str, name: str, rdtype: str) -> None:
    r = ask(addr, name, rdtype)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.RA
    assert addresses(r, rdtype) == lab.zone.expected(name, rdtype)
    chain = lab.zone.cname_chain(name)
    cnames = [rrset.name.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.CNAME]
    assert cnames == list(chain[:-1])


def test_policies_differ_per_resolver(lab: Lab) -> None:
    # limetorrents.pro is on the ISP's list only: kresd resolves it.
    assert ask(ISP_ADDR, "limetorrents.pro").rcode() == dns.rcode.NXDOMAIN
    r = ask(GOOGLE_ADDR, "limetorrents.pro")
    assert addresses(r) == lab.zone.expected("limetorrents.pro")


def test_nonexistent_name_is_plain_nxdomain(lab: Lab) -> None:
    r = ask(ISP_ADDR, "no-such-name.example-control.org")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.flags & dns.flags.RA
    assert len(r.authority) == 1  # the fake root's SOA, unlike RPZ answers


# -- unbound with RPZ (ISP style) ---------------------------------------------


def test_unbound_rpz_redirects_to_stop_page(lab: Lab) -> None:
    for name in ("kickasstorrents.to", "www.kickasstorrents.to", "kickasstorrents.cr"):
        r = ask(ISP_ADDR, name)
        assert r.rcode() == dns.rcode.NOERROR
        assert addresses(r) == {STOP_PAGE_AGCOM}
        assert r.flags & dns.flags.AA  # RPZ local data is answered authoritatively
        assert edes(r) == []  # unbound 1.17 attaches no EDE to RPZ actions
        assert nsid(r) == b"isp-it-1"
    assert ask(ISP_ADDR, "kickasstorrents.to", "AAAA").answer == []  # NODATA


def test_unbound_rpz_nxdomain_keeps_ra(lab: Lab) -> None:
    r = ask(ISP_ADDR, "limetorrents.pro")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.flags & dns.flags.RA
    assert r.authority == []


def test_unbound_rpz_drop_times_out(lab: Lab) -> None:
    with pytest.raises(dns.exception.Timeout):
        ask(ISP_ADDR, "thepiratebay.org", timeout=1.0)
    assert ask(ISP_ADDR, CONTROL_NAME).rcode() == dns.rcode.NOERROR


def test_unbound_quad9_like_nxdomain_clears_ra(lab: Lab) -> None:
    r = ask(QUAD9_ADDR, "kickasstorrents.to")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert not r.flags & dns.flags.RA
    assert r.authority == []
    assert r.flags & dns.flags.AA  # differs from real Quad9 (AA=0)
    # Only RPZ NXDOMAIN is affected: a real NXDOMAIN keeps RA.
    assert ask(QUAD9_ADDR, "no-such.example-control.org").flags & dns.flags.RA


# -- kresd with EDE (Google style) ----------------------------------------------


def test_kresd_refused_with_ede_censored(lab: Lab) -> None:
    for name in ("kickasstorrents.to", "www.thepiratebay.org"):
        r = ask(GOOGLE_ADDR, name)
        assert r.rcode() == dns.rcode.REFUSED
        assert edes(r) == [(16, GOOGLE_TEXT)]
        assert r.answer == [] and r.authority == []
        assert nsid(r) == b"google-lab"


def test_kresd_nxdomain_with_ede_censored(lab: Lab) -> None:
    r = ask(KRES_NX_ADDR, "kickasstorrents.cr")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert edes(r) == [(16, NX_TEXT)]


def test_kresd_sends_no_ede_without_edns(lab: Lab) -> None:
    r = dns.query.udp(dns.message.make_query("kickasstorrents.to", "A"), GOOGLE_ADDR, timeout=2.0)
    assert r.rcode() == dns.rcode.REFUSED
    assert r.edns < 0


# -- encrypted transports -----------------------------------------------------


@pytest.mark.parametrize("which", ["isp", "google"])
def test_dot_answers(lab: Lab, which: str) -> None:
    server = lab.isp if which == "isp" else lab.google
    assert server.tls_port is not None
    q = dns.message.make_query(CONTROL_NAME, "A")
    r = dns.query.tls(
        q,
        server.address,
        port=server.tls_port,
        server_hostname=TLS_NAME,
        verify=str(lab.ca.ca_path),
        timeout=3.0,
    )
    assert addresses(r) == lab.zone.expected(CONTROL_NAME)


def _doh(lab: Lab, url: str, name: str) -> dns.message.Message:
    """One RFC 8484 POST with curl: an independent client (Knot Resolver 5.6's DoH
    answers Python h2 clients erratically; curl is what operators test with)."""
    query = dns.message.make_query(name, "A", use_edns=0).to_wire()
    result = subprocess.run(
        ["curl", "-sS", "--http2", "--max-time", "5", "--cacert", str(lab.ca.ca_path),
         "-H", "content-type: application/dns-message", "--data-binary", "@-", url],
        input=query, capture_output=True, check=True)
    return dns.message.from_wire(result.stdout)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("which", ["isp", "google"])
def test_doh_answers(lab: Lab, which: str) -> None:
    server = lab.isp if which == "isp" else lab.google
    assert server.doh_url is not None
    assert addresses(_doh(lab, server.doh_url, CONTROL_NAME)) == lab.zone.expected(CONTROL_NAME)
    blocked = _doh(lab, server.doh_url, "kickasstorrents.to")
    if which == "isp":
        assert addresses(blocked) == {STOP_PAGE_AGCOM}
    else:
        assert blocked.rcode() == dns.rcode.REFUSED
        assert edes(blocked) == [(16, GOOGLE_TEXT)]


def test_tls_rejects_untrusted_ca(lab: Lab) -> None:
    q = dns.message.make_query(CONTROL_NAME, "A")
    with pytest.raises(OSError):  # ssl.SSLCertVerificationError is an OSError
        dns.query.tls(q, ISP_ADDR, port=853, server_hostname=TLS_NAME, timeout=3.0)


def test_stop_kills_only_own_pid(lab: Lab, tmp_path: Path) -> None:
    server = Unbound(tmp_path / "u", "127.0.0.9", lab.isp.upstream)
    server.start()
    pid = server.pid
    assert pid is not None and server.running
    server.stop()
    assert not server.running and server.pid is None
    server.stop()  # idempotent
    assert lab.isp.running  # others untouched
