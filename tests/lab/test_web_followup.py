"""The web follow-up engine against real nginx: each blocking behaviour recorded exactly.

nginx (Debian) serves lab sites on 127.60.0.x with certificates from the lab
CA; an nftables rule inside the test's private namespace drops one address.
The engine is called directly (the CLI wiring comes with the spool and wire).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from blockwatch.probe.observation import (
    Failure,
    Measurement,
    Purpose,
    Record,
    ResolverRef,
    Response,
    Transport,
)
from blockwatch.probe.web import WebEngine
from blockwatch.probe.webconfig import WebConfig
from blockwatch.probe.webobservation import FollowUp, WebObservation
from blockwatch.probe.webplan import plan_followups
from tests.lab.nginx import Nginx, Site
from tests.lab.tlsca import LabCA, ServerCert
from tests.lab.webexpect import (
    ConnectStep,
    HttpStep,
    TlsStep,
    leaf_certificate,
    settled,
    sha256,
)

pytestmark = pytest.mark.lab

EDGE = "127.60.0.1"        # a CDN edge refusing the site with 451 (the Milan remedy)
STOP = "127.60.0.2"        # an ISP stop page (AGCOM style), any Host
OLD = "127.60.0.3"         # an old domain redirecting to its mirror
BAY = "127.60.0.4"         # a site whose certificate also names its mirror
DROPPED = "127.60.0.99"    # an address the network drops (nftables, Piracy Shield style)
NOBODY = "127.60.0.98"     # nothing listens: refused
V6 = "::1"                 # the first IPv6 address of an answer is followed too

NOTICE = ("Unavailable For Legal Reasons",
          "This site is not available in your country by order of the Court of Milan.")
NFT_TABLE = "bw_web_test"
IDS = (b"\x01" * 16, b"\x02" * 16)


@dataclass
class Lab:
    ca: LabCA
    certs: dict[str, ServerCert]
    sites: dict[str, Site]


def _nft(script: str) -> None:
    done = subprocess.run(["nft", "-f", "-"], input=script, text=True, check=False,
                          capture_output=True)
    if done.returncode:
        raise RuntimeError(f"nft refused the rules: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def web_lab(isolated: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    for program in ("nginx", "nft", "openssl"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (scripts/setup.sh installs it)")
    work = tmp_path_factory.mktemp("web")
    ca = LabCA(work / "ca")
    certs = {
        "edge": ca.issue("edge", "kickasstorrents.lab"),
        "stop": ca.issue("stop", "stop.agcom.lab"),
        "old": ca.issue("old", "oldbay.lab"),
        "bay": ca.issue("bay", "thepiratebay.lab", "thepiratebay-mirror.lab"),
        "v6": ca.issue("v6", "v6site.lab"),
    }
    sites = {
        "edge": Site(EDGE, ("kickasstorrents.lab",), certs["edge"], status=451,
                     title=NOTICE[0], text=NOTICE[1]),
        "stop": Site(STOP, (), certs["stop"], title="AGCOM Stop Page",
                     text="Il sito richiesto non e' raggiungibile (delibera AGCOM)."),
        "old": Site(OLD, ("oldbay.lab",), certs["old"], status=301,
                    location="https://thepiratebay-mirror.lab/"),
        "bay": Site(BAY, ("thepiratebay.lab", "thepiratebay-mirror.lab"), certs["bay"],
                    title="The Pirate Bay", text="Download music, movies, games."),
        "v6": Site(V6, ("v6site.lab",), certs["v6"], title="Over IPv6"),
    }
    # on the input hook: the SYN leaves, is never answered, and connect() waits
    # (a drop on output would fail connect() at once with EPERM)
    _nft(f"table inet {NFT_TABLE} {{\n  chain input {{\n"
         f"    type filter hook input priority 0;\n"
         f"    ip daddr {DROPPED} tcp dport {{ 80, 443 }} drop\n  }}\n}}\n")
    try:
        with Nginx(work / "nginx", list(sites.values())):
            yield Lab(ca, certs, sites)
    finally:
        subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], check=False,
                       capture_output=True)


def engine(lab: Lab, **overrides: object) -> WebEngine:
    settings: dict[str, object] = {"allow_non_global": True, "ca_file": str(lab.ca.ca_path),
                                   "connect_timeout_s": 1.0, "tls_timeout_s": 2.0,
                                   "http_timeout_s": 3.0, "destination_rate": 1000.0}
    settings.update(overrides)
    return WebEngine(WebConfig(**settings))  # type: ignore[arg-type]


def follow(lab: Lab, name: str, address: str, **overrides: object) -> list[WebObservation]:
    followup = FollowUp(name, address, IDS)
    return asyncio.run(engine(lab, **overrides).follow(followup, "round-1"))


def page_step(url: str, site: Site, reason: str) -> HttpStep:
    body = site.page().encode()
    return HttpStep(url, 0, status=site.status, reason=reason, http_version="1.1",
                    headers=(("server", "nginx"), ("content-type", "text/html"),
                             ("content-length", str(len(body)))),
                    body_length=len(body), body_sha256=sha256(body), body_prefix=body,
                    title=site.title)


_CONNECTED = ConnectStep(0)


def observation(name: str, address: str, port: int, *, connect: ConnectStep = _CONNECTED,
                tls: TlsStep | None = None, http: HttpStep | None = None) -> WebObservation:
    return WebObservation(
        observation_id=b"", round_id="round-1", started_at_us=0, duration_us=0, name=name,
        address=address, port=port, scheme="https" if port == 443 else "http",
        dns_measurement_ids=IDS, connect=connect, tls=tls, http=http)


def verified(lab: Lab, cert: str) -> TlsStep:
    return TlsStep(0, version="TLSv1.3", certificate=leaf_certificate(lab.certs[cert].cert_path),
                   chain_verified=True, name_matches=True)


# -- the behaviours ---------------------------------------------------------------

def test_edge_451_with_legal_notice_over_tls_and_plain(web_lab: Lab) -> None:
    site = web_lab.sites["edge"]
    https, http = follow(web_lab, "kickasstorrents.lab", EDGE)
    assert settled(https) == observation(
        "kickasstorrents.lab", EDGE, 443, tls=verified(web_lab, "edge"),
        http=page_step("https://kickasstorrents.lab/", site, ""))
    assert settled(http) == observation(
        "kickasstorrents.lab", EDGE, 80,
        http=page_step("http://kickasstorrents.lab/", site, ""))
    assert https.http is not None and https.http.title == "Unavailable For Legal Reasons"
    assert https.failure is Failure.NONE and https.http.first_byte_us > 0


def test_stop_page_title_and_certificate_not_for_the_name(web_lab: Lab) -> None:
    site = web_lab.sites["stop"]
    https, http = follow(web_lab, "limetorrents.lab", STOP)
    text = ("SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
            "failed: Hostname mismatch, certificate is not valid for 'limetorrents.lab'. "
            "(_ssl.c:1006)")
    assert settled(https) == observation(
        "limetorrents.lab", STOP, 443,
        tls=TlsStep(0, version="TLSv1.3", certificate=leaf_certificate(
            web_lab.certs["stop"].cert_path), chain_verified=True, name_matches=False,
            verify_error="Hostname mismatch, certificate is not valid for "
                         "'limetorrents.lab'. (X509 error 62)",
            failure=Failure.TLS_CERTIFICATE, failure_text=text),
        http=page_step("https://limetorrents.lab/", site, "OK"))
    assert https.failure is Failure.TLS_CERTIFICATE
    assert settled(http) == observation("limetorrents.lab", STOP, 80,
                                        http=page_step("http://limetorrents.lab/", site, "OK"))
    assert http.http is not None and http.http.title == "AGCOM Stop Page"


def test_stop_page_without_the_lab_ca_fails_the_chain_too(web_lab: Lab) -> None:
    https, _ = follow(web_lab, "limetorrents.lab", STOP, ca_file="")
    assert https.tls is not None
    assert (https.tls.chain_verified, https.tls.name_matches) == (False, False)
    assert https.tls.verify_error == "unable to get local issuer certificate (X509 error 20)"
    assert https.tls.certificate == leaf_certificate(web_lab.certs["stop"].cert_path)
    assert https.http is not None and https.http.title == "AGCOM Stop Page"


def test_redirect_recorded_not_followed(web_lab: Lab) -> None:
    https, _ = follow(web_lab, "oldbay.lab", OLD)
    assert https.http is not None
    assert (https.http.status, https.http.header("location")) == (
        301, "https://thepiratebay-mirror.lab/")
    assert https.redirects == ()


def test_redirect_followed_when_asked(web_lab: Lab) -> None:
    async def resolve(host: str) -> str:
        return {"thepiratebay-mirror.lab": BAY}[host]

    config = WebConfig(allow_non_global=True, ca_file=str(web_lab.ca.ca_path),
                       follow_redirects=2, http_ports=())
    (https,) = asyncio.run(WebEngine(config, resolve=resolve).follow(
        FollowUp("oldbay.lab", OLD, IDS), "round-1"))
    (hop,) = settled(https).redirects
    assert hop == page_step("https://thepiratebay-mirror.lab/", web_lab.sites["bay"], "OK")


def test_certificate_names_the_mirror(web_lab: Lab) -> None:
    https, _ = follow(web_lab, "thepiratebay.lab", BAY)
    assert https.tls is not None and https.tls.certificate is not None
    assert https.tls.certificate.sans == ("DNS:thepiratebay.lab", "DNS:thepiratebay-mirror.lab")
    assert settled(https) == observation(
        "thepiratebay.lab", BAY, 443, tls=verified(web_lab, "bay"),
        http=page_step("https://thepiratebay.lab/", web_lab.sites["bay"], "OK"))


def test_ipv6_address(web_lab: Lab) -> None:
    https, http = follow(web_lab, "v6site.lab", V6)
    assert settled(https) == observation("v6site.lab", V6, 443, tls=verified(web_lab, "v6"),
                                         http=page_step("https://v6site.lab/",
                                                        web_lab.sites["v6"], "OK"))
    assert http.http is not None and http.http.title == "Over IPv6"


def test_dropped_address_times_out_on_connect(web_lab: Lab) -> None:
    started = time.monotonic()
    https, http = follow(web_lab, "blocked-by-ip.lab", DROPPED)
    elapsed = time.monotonic() - started
    for o, port in ((https, 443), (http, 80)):
        assert settled(o) == observation(
            "blocked-by-ip.lab", DROPPED, port,
            connect=ConnectStep(0, Failure.TIMEOUT, "no connection within 1s"))
        assert 900_000 <= o.connect.duration_us < 3_000_000
    assert elapsed < 6


def test_nothing_listening_is_refused(web_lab: Lab) -> None:
    https, http = follow(web_lab, "gone.lab", NOBODY)
    for o in (https, http):
        assert (o.connect.failure, o.tls, o.http) == (Failure.CONNECTION_REFUSED, None, None)
        assert "Connect call failed" in o.connect.failure_text


def test_round_runs_every_followup_once(web_lab: Lab) -> None:
    followups = [FollowUp("kickasstorrents.lab", EDGE, IDS[:1]),
                 FollowUp("thepiratebay.lab", BAY, IDS[1:]),
                 FollowUp("limetorrents.lab", STOP, IDS)]
    seen: list[WebObservation] = []
    made = asyncio.run(engine(web_lab, concurrency=2).run(followups, "round-7", seen.append))
    assert made == len(seen) == 6
    assert sorted((o.name, o.port, o.dns_measurement_ids) for o in seen) == sorted(
        (f.name, port, f.dns_measurement_ids) for f in followups for port in (443, 80))
    assert {o.round_id for o in seen} == {"round-7"}
    assert len({o.observation_id for o in seen}) == 6



def _dns(mid: int, resolver: str, address: str) -> Measurement:
    return Measurement(
        measurement_id=bytes([mid]) * 16, round_id="round-2", started_at_us=0, duration_us=0,
        domain="kickasstorrents.lab", qtype=1, qclass=1, purpose=Purpose.TARGET,
        resolver=ResolverRef(resolver, "127.0.0.53", 53, Transport.UDP),
        responses=[Response(0, 0, 0x8180, answers=(
            Record("kickasstorrents.lab", 1, 300, address),))])


def test_planned_round_follows_each_address_once_for_every_resolver(web_lab: Lab) -> None:
    """The ISP answers its stop page, two public resolvers the edge: two follow-ups, and
    the edge's observations name both public resolvers' measurements."""
    config = WebConfig(allow_non_global=True, ca_file=str(web_lab.ca.ca_path))
    plan = plan_followups([_dns(1, "isp", STOP), _dns(2, "cloudflare", EDGE),
                           _dns(3, "google", EDGE)], config)
    seen: list[WebObservation] = []
    asyncio.run(WebEngine(config).run(plan.followups, "round-2", seen.append))
    found = sorted((o.address, o.port, o.dns_measurement_ids,
                    o.http.status if o.http else 0, o.http.title if o.http else "")
                   for o in seen)
    assert found == [
        (EDGE, 80, (b"\x02" * 16, b"\x03" * 16), 451, NOTICE[0]),
        (EDGE, 443, (b"\x02" * 16, b"\x03" * 16), 451, NOTICE[0]),
        (STOP, 80, (b"\x01" * 16,), 200, "AGCOM Stop Page"),
        (STOP, 443, (b"\x01" * 16,), 200, "AGCOM Stop Page"),
    ]
