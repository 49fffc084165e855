"""Web verdict rules, one behaviour per test, against the packaged OONI HTTP
fingerprints (the real data, not a test list)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from blockwatch.analysis.errors import DataError
from blockwatch.analysis.httpfingerprints import (
    HttpFingerprintSet,
    load_http_fingerprints,
    parse_http_fingerprints,
)
from blockwatch.analysis.verdict import Status
from blockwatch.analysis.webobservation import WebContext, WebObservation
from blockwatch.analysis.webverdicts import (
    WebMethod,
    WebRule,
    classify_web,
    edge_operator,
)

FPS = load_http_fingerprints()
SITE_PAGE = b"<html><head><title>Kickass Torrents</title></head><body>torrents</body></html>"
STOP_PAGE = b"<html><head><title>AGCOM Stop Page</title></head><body>...</body></html>"


def site(**changes: object) -> WebObservation:
    """A follow-up that went fine: connect, TLS valid for the name, 200."""
    base = WebObservation(
        observation_id="obs-it", probe_name="it-1", probe_country="IT", round_id="r3",
        started_at_us=1_000_000, name="kickasstorrents.to", address="104.21.32.10",
        tls_attempted=True, has_certificate=True, cert_sha256="c1", chain_verified=True,
        name_matches=True, http_sent=True, status=200, body_sha256="b1",
        body_prefix=SITE_PAGE, title="Kickass Torrents",
        headers=(("server", "cloudflare"), ("cf-ray", "8a1b2c3d4e5f-MXP")))
    return replace(base, **changes)  # type: ignore[arg-type]


def control(**changes: object) -> WebObservation:
    return site(observation_id="obs-ch", probe_name="ch-1", probe_country="CH",
                probe_control=True, **changes)


CTX = WebContext(controls=(control(),), probe_reaches_other_sites=True)


def test_same_page_as_the_control_is_ok() -> None:
    v = classify_web(site(), CTX, FPS)
    assert (v.status, v.rule) == (Status.OK, WebRule.MATCHES_CONTROL)
    assert v.evidence.control_observation_id == "obs-ch"
    assert v.version.startswith("web.1+http.")


def test_geo_variation_of_the_site_itself_is_not_a_block() -> None:
    v = classify_web(site(title="Kickass Torrents Italia", body_sha256="b2", cert_sha256="c2",
                          body_prefix=b"<title>Kickass Torrents Italia</title>"), CTX, FPS)
    assert (v.status, v.rule) == (Status.OK, WebRule.DIFFERS_FROM_CONTROL)
    assert v.evidence.differs == ("title", "body", "certificate")


def test_http_451_is_a_block_without_any_control_and_names_the_edge() -> None:
    v = classify_web(site(status=451, title="Unavailable For Legal Reasons",
                          body_prefix=b"<title>Unavailable For Legal Reasons</title>"),
                     WebContext(), FPS)
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, WebMethod.HTTP_451, WebRule.HTTP_451)
    assert v.evidence.edge_operator == "cloudflare"


def test_known_block_page_is_named_with_source_and_countries_without_control() -> None:
    v = classify_web(site(body_prefix=STOP_PAGE, title="AGCOM Stop Page", name_matches=False,
                          chain_verified=False), WebContext(), FPS)
    assert (v.status, v.method) == (Status.BLOCKED, WebMethod.BLOCKPAGE)
    assert v.evidence.fingerprint == "cl.nat_it_agcom_block"
    assert v.evidence.fingerprint_countries == ("IT",)


def test_block_page_in_a_location_header_is_recognised() -> None:
    v = classify_web(site(status=302, body_prefix=b"", headers=(
        ("location", "https://internet.mts.by/blocked/?u=x"),)), WebContext(), FPS)
    assert v.evidence.fingerprint == "ooni.by_2" and v.status is Status.BLOCKED


def test_known_false_positive_pages_never_name_a_block() -> None:
    challenge = b"<title>Just a moment</title>Checking your browser before accessing. Ray ID: 1"
    v = classify_web(site(body_prefix=challenge, status=403, title="Just a moment"), CTX, FPS)
    assert v.status is Status.OK and v.evidence.fingerprint == ""


def test_connect_timeout_where_the_control_connects_is_an_ip_drop() -> None:
    v = classify_web(site(connect_failure="timeout", tls_attempted=False, http_sent=False,
                          status=0), CTX, FPS)
    assert (v.status, v.method, v.rule) == (
        Status.BLOCKED, WebMethod.IP_DROP, WebRule.CONNECT_TIMEOUT_CONTROL_CONNECTS)


def test_connect_timeout_without_any_control_is_unknown() -> None:
    dropped = site(connect_failure="timeout", tls_attempted=False, http_sent=False, status=0)
    v = classify_web(dropped, WebContext(), FPS)
    assert (v.status, v.rule) == (Status.UNKNOWN, WebRule.NO_CONTROL)


def test_connect_timeout_on_every_path_while_other_sites_work_is_an_ip_drop() -> None:
    dropped = site(connect_failure="timeout", tls_attempted=False, http_sent=False, status=0)
    other = control(address="104.21.99.99")   # geo-DNS: the control went elsewhere
    v = classify_web(dropped, WebContext((other,), probe_reached_address=False,
                                         probe_reaches_other_sites=True), FPS)
    assert (v.method, v.rule) == (WebMethod.IP_DROP, WebRule.CONNECT_TIMEOUT_NO_PATH)
    # ... but not when the probe's own network reaches nothing, or reached it elsewhere.
    for ctx in (WebContext((other,), probe_reaches_other_sites=False),
                WebContext((other,), probe_reached_address=True,
                           probe_reaches_other_sites=True)):
        assert classify_web(dropped, ctx, FPS).status is Status.UNKNOWN


def test_connect_timeout_where_the_control_times_out_too_is_an_error() -> None:
    down = site(connect_failure="timeout", tls_attempted=False, http_sent=False, status=0)
    v = classify_web(down, WebContext((control(connect_failure="timeout"),)), FPS)
    assert (v.status, v.rule) == (Status.ERROR, WebRule.CONTROL_FAILED)


@pytest.mark.parametrize("failure", ["connection_reset", "connection_refused"])
def test_reset_on_connect_where_the_control_connects_is_a_tcp_reset(failure: str) -> None:
    v = classify_web(site(connect_failure=failure, tls_attempted=False, http_sent=False,
                          status=0), CTX, FPS)
    assert (v.status, v.method) == (Status.BLOCKED, WebMethod.TCP_RESET)


def test_reset_after_the_request_where_the_control_responds_is_a_tcp_reset() -> None:
    v = classify_web(site(http_failure="connection_reset", status=0), CTX, FPS)
    assert (v.method, v.rule) == (WebMethod.TCP_RESET, WebRule.HTTP_RESET_CONTROL_RESPONDS)


@pytest.mark.parametrize(("failure", "text"), [
    ("connection_reset", "[Errno 104] Connection reset by peer"),
    ("timeout", "handshake timed out"),
    ("tls_error", "[SSL: TLSV1_ALERT_ACCESS_DENIED] tlsv1 alert access denied"),
])
def test_reset_silence_or_alert_after_client_hello_is_tls_interference(
        failure: str, text: str) -> None:
    broken = site(tls_failure=failure, tls_failure_text=text, has_certificate=False,
                  http_sent=False, status=0)
    v = classify_web(broken, CTX, FPS)
    assert (v.status, v.method, v.rule) == (
        Status.BLOCKED, WebMethod.TLS_INTERFERENCE, WebRule.TLS_FAILED_CONTROL_HANDSHAKES)


def test_tls_protocol_error_that_the_control_also_gets_is_an_error() -> None:
    broken = dict(tls_failure="tls_error", tls_failure_text="wrong version number",
                  has_certificate=False, http_sent=False, status=0)
    ctx = WebContext((control(**broken),))
    assert classify_web(site(**broken), ctx, FPS).rule is WebRule.CONTROL_FAILED
    # and with a working control, a non-interference TLS error is no block either
    assert classify_web(site(**broken), CTX, FPS).status is Status.ERROR


def test_certificate_not_valid_for_the_name_where_the_control_is_valid_is_interference() -> None:
    v = classify_web(site(name_matches=False, cert_sha256="mitm"), CTX, FPS)
    assert (v.method, v.rule) == (WebMethod.TLS_INTERFERENCE, WebRule.CERT_INVALID_CONTROL_VALID)


def test_certificate_invalid_for_the_control_too_is_the_sites_own_error() -> None:
    v = classify_web(site(chain_verified=False), WebContext((control(chain_verified=False),)),
                     FPS)
    assert (v.status, v.rule) == (Status.ERROR, WebRule.CONTROL_FAILED)


def test_control_vantage_is_never_blocked() -> None:
    v = classify_web(control(status=451), WebContext(), FPS)
    assert (v.status, v.rule) == (Status.OK, WebRule.CONTROL_VANTAGE)


def test_edge_operator_is_recognised_by_its_headers_only() -> None:
    assert edge_operator(site(headers=(("cf-ray", "x"),))) == "cloudflare"
    assert edge_operator(site(headers=(("server", "nginx"),))) == ""


def test_out_of_country_block_page_is_still_named_but_in_country_preferred() -> None:
    fps = HttpFingerprintSet(parse_http_fingerprints(
        "name,scope,location_found,pattern_type,pattern,expected_countries,source\n"
        "a.de,nat,body,contains,Stop,DE,x\n"
        "b.it,nat,body,contains,Stop,IT,y\n"))
    assert fps.match(site(body_prefix=b"Stop")).name == "b.it"  # type: ignore[union-attr]
    assert fps.match(site(probe_country="FR", body_prefix=b"Stop")).name == "a.de"  # type: ignore[union-attr]


def test_bad_fingerprint_rows_are_refused_with_the_line() -> None:
    with pytest.raises(DataError, match="line 2: bad regexp"):
        parse_http_fingerprints(
            "name,scope,location_found,pattern_type,pattern,expected_countries,source\n"
            "x,nat,body,regexp,(unclosed,,\n")
    with pytest.raises(DataError, match="line 2"):
        parse_http_fingerprints(
            "name,scope,location_found,pattern_type,pattern,expected_countries,source\n"
            "x,nat,cookie,contains,a,,\n")
