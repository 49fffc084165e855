"""The site verdict per path: could this probe reach this name through this
resolver path in this round, and if not, at which layer and by whose hand?

    resolver (DNS) -> network (IP, TCP) -> TLS -> server or edge (HTTP)

The first layer that blocks decides, with its method; the evidence of every
layer is kept (a DNS stop page that the web follow-up shows as the stop page
is confirmed at both). The block is attributed to whoever controls the layer:
the resolver's operator for DNS, the probe's network for IP / TCP / TLS
interference, and for HTTP the edge whose headers mark the response (a CDN
refusing the site in the country), else the network for an interposed block
page, else the server itself. Pure; docs/verdicts.md, "Site verdict per path".
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from blockwatch.analysis.verdict import Status, Verdict
from blockwatch.analysis.webverdicts import WebMethod, WebVerdict


class Layer(enum.StrEnum):
    NONE = ""
    DNS = "dns"
    IP = "ip"
    TCP = "tcp"
    TLS = "tls"
    HTTP = "http"


LAYER_ORDER = (Layer.DNS, Layer.IP, Layer.TCP, Layer.TLS, Layer.HTTP)
WEB_LAYER = {WebMethod.IP_DROP: Layer.IP, WebMethod.TCP_RESET: Layer.TCP,
             WebMethod.TLS_INTERFERENCE: Layer.TLS, WebMethod.HTTP_451: Layer.HTTP,
             WebMethod.BLOCKPAGE: Layer.HTTP}


class Party(enum.StrEnum):
    """Who controls the layer that blocked."""

    NONE = ""
    RESOLVER = "resolver"      # the resolver's operator (its DNS answers)
    NETWORK = "network"        # the probe's ISP / network (IP, TCP, TLS, interposed pages)
    EDGE = "edge"              # a CDN's edge refusing the site (its own headers say so)
    SERVER = "server"          # the site's server itself


@dataclass(frozen=True, slots=True)
class PathKey:
    probe_name: str
    resolver_name: str         # e.g. "cloudflare-doh", "isp"
    transport: str             # udp | tcp | dot | doh
    name: str
    round_id: str


@dataclass(frozen=True, slots=True)
class LayerResult:
    layer: Layer
    status: Status
    method: str
    rule: str
    detail: str = ""           # fingerprint, address or edge named by the evidence


@dataclass(frozen=True, slots=True)
class SiteVerdict:
    key: PathKey
    status: Status
    layer: Layer = Layer.NONE
    method: str = ""
    party: Party = Party.NONE
    operator: str = ""         # who: the resolver's / network's / edge's operator
    confirmed_by: tuple[str, ...] = ()     # later layers showing a block: "http/blockpage"
    layers: tuple[LayerResult, ...] = ()   # every layer's evidence, in layer order

    @property
    def label(self) -> str:
        """"dns/sinkhole", "http/http-451", "ok"."""
        return f"{self.layer}/{self.method}" if self.layer else str(self.status)


def _dns_result(dns: Verdict) -> LayerResult:
    detail = dns.evidence.fingerprint or ",".join(dns.evidence.answer)
    return LayerResult(Layer.DNS, dns.status, str(dns.method), str(dns.rule), detail)


def _web_result(web: WebVerdict) -> LayerResult:
    layer = WEB_LAYER.get(web.method, Layer.HTTP if web.evidence.status else Layer.TCP)
    detail = web.evidence.fingerprint or web.evidence.edge_operator or web.evidence.address
    return LayerResult(layer, web.status, str(web.method), str(web.rule), detail)


def _web_party(web: WebVerdict, network_operator: str) -> tuple[Party, str]:
    layer = WEB_LAYER.get(web.method, Layer.NONE)
    if layer is not Layer.HTTP:
        return Party.NETWORK, network_operator
    if web.evidence.edge_operator:
        return Party.EDGE, web.evidence.edge_operator
    if web.method is WebMethod.BLOCKPAGE:
        return Party.NETWORK, network_operator
    return Party.SERVER, web.evidence.address


def site_verdict(key: PathKey, dns: Verdict | None, web: Sequence[WebVerdict], *,
                 resolver_operator: str, network_operator: str) -> SiteVerdict:
    """Combine one path's DNS verdict and the web verdicts of the addresses its
    answer named (already passed through evidence strength, so a lone ip-drop
    arrives as `suspect`).

    A browser tries every address: the web layer blocks only when no follow-up
    got through; among blocked follow-ups the earliest layer decides.
    """
    layers = tuple(sorted(
        ([_dns_result(dns)] if dns is not None else []) + [_web_result(w) for w in web],
        key=lambda r: LAYER_ORDER.index(r.layer)))
    confirmed = tuple(sorted({f"{_web_result(w).layer}/{w.method}" for w in web
                              if w.status is Status.BLOCKED}))

    if dns is not None and dns.status in (Status.BLOCKED, Status.FILTERED):
        return SiteVerdict(key, dns.status, Layer.DNS, str(dns.method), Party.RESOLVER,
                           resolver_operator, confirmed, layers)

    reached = any(w.status is Status.OK for w in web)
    if web and not reached:
        for status in (Status.BLOCKED, Status.SUSPECT):
            hits = [w for w in web if w.status is status]
            if hits:
                first = min(hits, key=lambda w: LAYER_ORDER.index(_web_result(w).layer))
                party, operator = _web_party(first, network_operator)
                return SiteVerdict(key, status, _web_result(first).layer, str(first.method),
                                   party, operator, (), layers)

    if dns is not None and dns.status is Status.SUSPECT and not reached:
        return SiteVerdict(key, Status.SUSPECT, Layer.DNS, str(dns.method), Party.RESOLVER,
                           resolver_operator, (), layers)
    if reached or (not web and dns is not None and dns.status is Status.OK):
        return SiteVerdict(key, Status.OK, layers=layers)
    # Nothing conclusive: the follow-ups failed as they did for the control
    # (error / unknown), or there were none and DNS said error / unknown.
    if web:
        status = Status.ERROR if any(w.status is Status.ERROR for w in web) else Status.UNKNOWN
    else:
        status = dns.status if dns is not None else Status.UNKNOWN
    return SiteVerdict(key, status, layers=layers)
