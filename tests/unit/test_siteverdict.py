"""Site verdict per path: the first layer that blocks decides, every layer's
evidence is kept, and the block is attributed to whoever controls the layer.
Inputs are real DNS and web verdicts from the rules, not hand-made ones."""

from __future__ import annotations

from dataclasses import replace

from blockwatch.analysis.dnsverdicts import classify
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.httpfingerprints import load_http_fingerprints
from blockwatch.analysis.observation import (
    Answer,
    ControlContext,
    Health,
    Observation,
    Outcome,
    Reference,
)
from blockwatch.analysis.siteverdict import Layer, Party, PathKey, site_verdict
from blockwatch.analysis.strength import Attempt, strengthen
from blockwatch.analysis.verdict import Status, Verdict
from blockwatch.analysis.webobservation import WebContext, WebObservation
from blockwatch.analysis.webverdicts import WebVerdict, classify_web

DNS_FPS, HTTP_FPS = load_fingerprints(), load_http_fingerprints()
STOP_PAGE = "83.224.65.74"          # AGCOM's stop page (cl.dns_nat_it_agcom_block)
EDGE = "104.21.32.10"               # the Milan sites on Cloudflare's edge
FOOTY = "172.67.190.80"             # Piracy Shield drops packets to it


def dns(name: str, address: str, resolver: str = "isp", transport: str = "udp") -> Verdict:
    obs = Observation(measurement_id=f"m-{resolver}", probe_name="it-1", probe_country="IT",
                      started_at_us=0, domain=name, resolver_name=resolver,
                      transport=transport, rcode=0, flags=0x8180, response_count=1,
                      answers=(Answer(1, address),))
    ctx = ControlContext(Reference(Outcome.ANSWERED, (address,), "ctl", 0), Health.ANSWERS,
                         (address if address != STOP_PAGE else "185.15.59.40",))
    return classify(obs, ctx, DNS_FPS)


def web(name: str, address: str, **changes: object) -> WebObservation:
    base = WebObservation(
        observation_id=f"w-{address}", probe_name="it-1", probe_country="IT", round_id="r3",
        started_at_us=0, name=name, address=address, tls_attempted=True,
        has_certificate=True, cert_sha256="c", chain_verified=True, name_matches=True,
        http_sent=True, status=200, body_sha256="b", title=name)
    return replace(base, **changes)  # type: ignore[arg-type]


def control_of(obs: WebObservation) -> WebObservation:
    return replace(obs, observation_id="ctl-" + obs.observation_id, probe_name="ch-1",
                   probe_country="CH", probe_control=True)


def key(resolver: str = "isp", transport: str = "udp", name: str = "x") -> PathKey:
    return PathKey("it-1", resolver, transport, name, "r3")


def test_agcom_stop_page_is_dns_sinkhole_confirmed_by_http_blockpage() -> None:
    name = "streamingcommunity.li"
    stop = web(name, STOP_PAGE, name_matches=False, chain_verified=False, title="AGCOM Stop Page",
               body_prefix=b"<html><title>AGCOM Stop Page</title></html>")
    v = site_verdict(key(name=name), dns(name, STOP_PAGE),
                     [classify_web(stop, WebContext(), HTTP_FPS)],
                     resolver_operator="isp-it", network_operator="isp-it")
    assert (v.status, v.label) == (Status.BLOCKED, "dns/sinkhole")
    assert (v.party, v.operator) == (Party.RESOLVER, "isp-it")
    assert v.confirmed_by == ("http/blockpage",)
    assert [r.layer for r in v.layers] == [Layer.DNS, Layer.HTTP]
    assert v.layers[1].detail == "cl.nat_it_agcom_block"


def test_milan_remedy_is_http_451_behind_a_normal_dns_answer_attributed_to_the_edge() -> None:
    name = "kickasstorrents.to"
    notice = web(name, EDGE, status=451, title="Unavailable For Legal Reasons",
                 headers=(("server", "cloudflare"), ("cf-ray", "8a1b-MXP")))
    dns_verdict = dns(name, EDGE, "cloudflare-doh", "doh")
    assert dns_verdict.status is Status.OK
    v = site_verdict(key("cloudflare-doh", "doh", name), dns_verdict,
                     [classify_web(notice, WebContext(), HTTP_FPS)],
                     resolver_operator="cloudflare", network_operator="isp-it")
    assert (v.status, v.label) == (Status.BLOCKED, "http/http-451")
    assert (v.party, v.operator) == (Party.EDGE, "cloudflare")
    assert [r.status for r in v.layers] == [Status.OK, Status.BLOCKED]


def _dropped_everywhere() -> WebVerdict:
    dropped = web("footybite.to", FOOTY, connect_failure="timeout", tls_attempted=False,
                  has_certificate=False, http_sent=False, status=0)
    ctx = WebContext((control_of(web("footybite.to", FOOTY)),), probe_reaches_other_sites=True)
    verdict = classify_web(dropped, ctx, HTTP_FPS)
    assert verdict.method == "ip-drop"
    return verdict


def test_isp_ip_drop_on_every_path_doh_included_is_the_networks_not_the_resolvers() -> None:
    verdict = _dropped_everywhere()
    history = [Attempt(3, verdict.status, verdict.method, FOOTY, "a"),
               Attempt(4, verdict.status, verdict.method, FOOTY, "b")]
    strong = replace(verdict, status=strengthen(history[0], history))
    paths = [("isp", "udp", "isp-it"), ("cloudflare-doh", "doh", "cloudflare"),
             ("google-dot", "dot", "google")]
    for resolver, transport, operator in paths:
        v = site_verdict(key(resolver, transport, "footybite.to"),
                         dns("footybite.to", FOOTY, resolver, transport), [strong],
                         resolver_operator=operator, network_operator="isp-it")
        assert (v.status, v.label) == (Status.BLOCKED, "ip/ip-drop"), resolver
        assert (v.party, v.operator) == (Party.NETWORK, "isp-it"), resolver


def test_a_lone_ip_drop_is_a_suspect_site_not_a_block() -> None:
    verdict = _dropped_everywhere()
    single = Attempt(3, verdict.status, verdict.method, FOOTY, "a")
    weak = replace(verdict, status=strengthen(single, [single]))
    v = site_verdict(key(), dns("footybite.to", FOOTY), [weak],
                     resolver_operator="isp-it", network_operator="isp-it")
    assert (v.status, v.layer) == (Status.SUSPECT, Layer.IP)


def test_one_address_reached_means_the_site_was_reachable() -> None:
    ok = classify_web(web("footybite.to", "172.67.190.81"), WebContext(), HTTP_FPS)
    v = site_verdict(key(), dns("footybite.to", FOOTY), [_dropped_everywhere(), ok],
                     resolver_operator="isp-it", network_operator="isp-it")
    assert (v.status, v.layer) == (Status.OK, Layer.NONE)
    assert len(v.layers) == 3


def test_earliest_blocking_layer_decides_among_addresses() -> None:
    reset = classify_web(
        web("a.example", "192.0.2.1", tls_failure="connection_reset", has_certificate=False,
            http_sent=False, status=0),
        WebContext((control_of(web("a.example", "192.0.2.1")),)), HTTP_FPS)
    notice = classify_web(web("a.example", "192.0.2.2", status=451), WebContext(), HTTP_FPS)
    v = site_verdict(key(), None, [notice, reset], resolver_operator="r",
                     network_operator="isp")
    assert v.label == "tls/tls-interference" and v.party is Party.NETWORK


def test_451_from_an_unmarked_server_is_the_servers_own() -> None:
    notice = classify_web(web("a.example", "192.0.2.2", status=451), WebContext(), HTTP_FPS)
    v = site_verdict(key(), None, [notice], resolver_operator="r", network_operator="isp")
    assert (v.party, v.operator) == (Party.SERVER, "192.0.2.2")


def test_follow_ups_that_fail_like_the_controls_are_an_error_not_ok() -> None:
    down = web("a.example", "192.0.2.3", connect_failure="timeout", tls_attempted=False,
               has_certificate=False, http_sent=False, status=0)
    failing = classify_web(down, WebContext((control_of(down),)), HTTP_FPS)
    v = site_verdict(key(), dns("a.example", "192.0.2.3"), [failing], resolver_operator="r",
                     network_operator="isp")
    assert v.status is Status.ERROR
    assert site_verdict(key(), dns("a.example", "192.0.2.3"), [], resolver_operator="r",
                        network_operator="isp").status is Status.OK
