"""Issue 13's ground truth: the verdict of every path at every layer, and the
figures the layered reports (`--layer dns|web|site`) and the layered compliance
should show, all computed from the world's description in tests/lab/truth.py
(its resolvers' policies, its web servers, the edge's geo-blocks, the ISP's IP
drops). No expected figure is written by hand.

A path is (round, country, resolver, name): one DNS measurement (qtype A).
- DNS layer: the resolver's answer (truth.policy; the methods of
  truth.EXPECTED_METHOD), attributed to the resolver (operator: its name).
- Web layer: the probe's follow-ups of the path's answer address (TLS on 443,
  plain HTTP on 80). Cloudflare's edge answering 451 (with its own
  `Server: cloudflare`) is `http/http-451` by the edge `cloudflare`; AGCOM's
  stop page matches its country-scoped fingerprint: `http/blockpage`,
  interposed by the network; a Piracy Shield drop times out where the control
  connects, on both ports in the same round: `ip/ip-drop` by the network
  (operator `AS<asn>`, the probe's). A browser tries every address: the
  layer blocks only when no follow-up got through. No address to follow (a
  refusal, NXDOMAIN, a drop, 127.0.0.1) leaves it `unknown`.
- Site: the first layer that blocks decides (DNS before IP before HTTP), the
  later ones confirm it (the stop page: `dns/sinkhole` confirmed by
  `http/blockpage`).
The control vantage is the reference and never blocked; it is no row of any
report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.lab import truth
from tests.lab.truth import CandidatePlan, Country, Round
from tests.lab.zones import STOP_PAGE_AGCOM, lab_root_zone

LAYERS = ("dns", "web", "site")
LAYER_ORDER = ("dns", "ip", "tcp", "tls", "http")
CONCLUSIVE = frozenset({"ok", "blocked", "filtered", "suspect"})
INCONCLUSIVE = frozenset({"error", "unknown"})
# the AGCOM stop page's fingerprint (analysis data/http_fingerprints.csv, scope IT)
STOP_PAGE_FINGERPRINT_COUNTRIES = ("IT",)


@dataclass(frozen=True)
class LayerVerdict:
    verdict: str                 # ok | blocked | unknown (the lab has no other)
    layer: str = ""              # where it blocked: dns | ip | tcp | tls | http
    method: str = ""
    party: str = ""              # resolver | network | edge | server
    operator: str = ""

    @property
    def label(self) -> str:
        return f"{self.layer}/{self.method}" if self.layer else self.verdict

    @property
    def blocked_by(self) -> str | None:
        """As the reports say it: "edge cloudflare", "network AS3269"."""
        return " ".join(x for x in (self.party, self.operator) if x) or None


OK = LayerVerdict("ok")
NO_FOLLOW_UP = LayerVerdict("unknown")


@dataclass(frozen=True)
class Path:
    round: Round
    country: Country
    resolver: str
    transport: str
    domain: str
    site: str
    purpose: str
    dns: LayerVerdict
    web: LayerVerdict
    site_verdict: LayerVerdict
    confirmed_by: tuple[str, ...] = ()
    follow_ups: tuple[LayerVerdict, ...] = field(default=(), compare=False)

    def at(self, layer: str) -> LayerVerdict:
        return {"dns": self.dns, "web": self.web, "site": self.site_verdict}[layer]


def transport_of(resolver: str) -> str:
    return next(e.transport for o in truth.OPERATORS for e in o.endpoints if e.name == resolver)


def network_operator(country: Country) -> str:
    return f"AS{country.asn}"


def follow_up_verdict(country: Country, rnd: int, domain: str, address: str, port: int
                      ) -> LayerVerdict:
    """The web verdict of one follow-up outside the control country."""
    if truth.ip_blocked(country.code, address, port, rnd) is not None:
        # the drop covers every port of the address: the same round corroborates it
        return LayerVerdict("blocked", "ip", "ip-drop", "network", network_operator(country))
    edge = truth.edge_blocks(country.code, rnd).get(domain)
    host = truth.web_host(address, country.code)
    if edge is not None and host is not None and host.operator == edge.operator:
        return LayerVerdict("blocked", "http", "http-451", "edge", edge.operator)
    if address == STOP_PAGE_AGCOM and country.code in STOP_PAGE_FINGERPRINT_COUNTRIES:
        return LayerVerdict("blocked", "http", "blockpage", "network", network_operator(country))
    return OK


def _web_layer(follow_ups: Iterable[LayerVerdict]) -> LayerVerdict:
    seen = list(follow_ups)
    if not seen:
        return NO_FOLLOW_UP
    if any(v.verdict == "ok" for v in seen):
        return OK
    return min(seen, key=lambda v: LAYER_ORDER.index(v.layer))


def paths(candidates: CandidatePlan = truth.NO_CANDIDATES) -> list[Path]:
    """Every path the probes measure (candidates too), at every layer."""
    zone = lab_root_zone(truth.NSD_ADDRESS, extra=truth.EXTRA_RECORDS)
    out = []
    for e in truth.expected_measurements(candidates):
        transport = transport_of(e.resolver)
        if e.country.control:
            out.append(Path(e.round, e.country, e.resolver, transport, e.domain, e.site,
                            e.purpose, OK, OK, OK))
            continue
        dns = LayerVerdict("blocked", "dns", e.method, "resolver", e.resolver) if e.blocked \
            else OK
        address = None if e.purpose == "control" else truth.answer_address(e.domain, e.style,
                                                                           zone)
        follow = tuple(follow_up_verdict(e.country, e.round.number, e.domain, address, port)
                       for port in truth.WEB_PORTS) if address else ()
        web = _web_layer(follow)
        confirmed = tuple(sorted({v.label for v in follow if v.verdict == "blocked"}))
        if dns.verdict == "blocked":
            site = dns
        elif web.verdict in {"blocked", "ok"}:
            site = web
        else:
            site = dns      # no follow-up: the DNS verdict stands
        out.append(Path(e.round, e.country, e.resolver, transport, e.domain, e.site,
                        e.purpose, dns, web, site, confirmed if dns.verdict == "blocked"
                        else (), follow))
    return out


# -- the layered reports' figures (their JSON keys) ---------------------------------------


@dataclass
class _Tally:
    blocked: int = 0
    total: int = 0
    inconclusive: int = 0
    reached: int = 0
    last_reached: Round | None = None
    how: dict[tuple[str, str, str, str], int] = field(
        default_factory=lambda: defaultdict(int))

    def add(self, p: Path, layer: str) -> None:
        v = p.at(layer)
        if v.verdict in CONCLUSIVE:
            self.total += 1
        if v.verdict in INCONCLUSIVE:
            self.inconclusive += 1
        if v.verdict == "ok":
            self.reached += 1
            self.last_reached = p.round
        if v.verdict == "blocked":
            self.blocked += 1
            self.how[(v.layer, v.method, v.party, v.operator)] += 1

    def dominant(self) -> dict[str, object]:
        """The way of blocking with the most blocked paths (ties: the later tuple)."""
        if not self.how:
            return {"layer": None, "method": None, "blocked_by": None}
        _, (layer, method, party, operator) = max((n, k) for k, n in self.how.items())
        return {"layer": layer or None, "method": method or None,
                "blocked_by": " ".join(x for x in (party, operator) if x) or None}


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _targets(every: list[Path]) -> list[Path]:
    return [p for p in every if p.purpose == "target" and not p.country.control]


def expected_effectiveness(layer: str, every: list[Path]) -> list[dict[str, object]]:
    tallies: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
    for p in _targets(every):
        tallies[(p.country.code, p.resolver, p.site)].add(p, layer)
    return [{"country": c, "resolver": r, "site": s, "blocked": t.blocked, "total": t.total,
             "share_blocked_pct": _pct(t.blocked, t.total), **t.dominant(), "filtered": 0,
             "inconclusive": t.inconclusive}
            for (c, r, s), t in sorted(tallies.items())]


def expected_timeline(layer: str, every: list[Path]) -> list[dict[str, object]]:
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    for p in _targets(every):
        tallies[(p.round.day.isoformat(), p.resolver)].add(p, layer)
    return [{"day": d, "resolver": r, "blocked": t.blocked, "total": t.total,
             "share_blocked_pct": _pct(t.blocked, t.total), **t.dominant()}
            for (d, r), t in sorted(tallies.items())]


def _order_of(domain: str) -> truth.Order:
    return next(o for o in truth.ORDERS for _, d in o.domains() if d.name == domain)


def expected_spillover(layer: str, every: list[Path]) -> list[dict[str, object]]:
    tallies: dict[tuple[str, str, str, str], _Tally] = defaultdict(_Tally)
    for p in _targets(every):
        order = _order_of(p.domain)
        if p.country.code not in order.countries:
            tallies[(order.order_id, p.country.code, p.resolver, p.site)].add(p, layer)
    return [{"order": o, "country": c, "resolver": r, "site": s, "blocked": t.blocked,
             "total": t.total, "share_blocked_pct": _pct(t.blocked, t.total), **t.dominant()}
            for (o, c, r, s), t in sorted(tallies.items()) if t.blocked]


def expected_leakage(layer: str, every: list[Path]) -> list[dict[str, object]]:
    """Paths (resolver x transport x family) in the ordered countries that still
    reached an ordered site since it was due; `last_reached_round` for the time."""
    tallies: dict[tuple[str, str, str, str, str, str], _Tally] = defaultdict(_Tally)
    for p in _targets(every):
        order = _order_of(p.domain)
        if p.country.code in order.countries and p.round.day >= truth.due(order, p.domain):
            tallies[(order.order_id, p.country.code, p.resolver, p.transport,
                     "yes" if p.resolver in order.intermediaries else "no", p.site)].add(p, layer)
    return [{"order": o, "country": c, "resolver": r, "transport": tr, "family": 4,
             "intermediary": i, "site": s, "reached": t.reached, "total": t.total,
             "share_reached_pct": _pct(t.reached, t.total),
             "last_reached_round": t.last_reached.number if t.last_reached else None,
             **t.dominant()}
            for (o, c, r, tr, i, s), t in sorted(tallies.items()) if t.reached]


# -- remedies: how each intermediary of an order complied, by its own hand ---------------


@dataclass(frozen=True)
class Intermediary:
    """One intermediary of an order: its resolvers (as the probes name them) and the
    networks its edge is recognised by."""

    name: str
    resolvers: tuple[str, ...]
    networks: tuple[str, ...]


def intermediaries(order: truth.Order) -> list[Intermediary]:
    """The order's intermediaries grouped by operator (cloudflare and cloudflare-dot
    are one): the operator running the edge also names it as a network."""
    groups: dict[str, list[str]] = defaultdict(list)
    for resolver in order.intermediaries:
        groups[truth.RESOLVER_OPERATOR[resolver]].append(resolver)
    return [Intermediary(name, tuple(resolvers), (name,) if name == truth.EDGE else ())
            for name, resolvers in sorted(groups.items())]


@dataclass(frozen=True)
class Remedy:
    """What the intermediary's own hand shows in the order's countries."""

    order_id: str
    intermediary: str
    dns_methods: tuple[str, ...]      # its resolvers' DNS blocks
    edge_methods: tuple[str, ...]     # its edge's HTTP refusals
    first_round: int | None           # first round any path was blocked by its hand
    others: tuple[str, ...]           # blocks by another party: "network AS3269 ip/ip-drop"


def _mine(p: Path, who: Intermediary) -> bool:
    v = p.site_verdict
    return v.verdict == "blocked" and (
        (v.party == "resolver" and v.operator in who.resolvers)
        or (v.party == "edge" and v.operator in who.networks))


def expected_remedies(every: list[Path]) -> list[Remedy]:
    """Per order and intermediary: the remedy observed on the paths through the
    intermediary's resolvers and, for an edge, on every path to the ordered sites
    in the ordered countries (a visitor reaches the edge whatever resolver)."""
    out = []
    for order in truth.ORDERS:
        listed = {d.name for _, d in order.domains()}
        ordered = [p for p in _targets(every)
                   if p.domain in listed and p.country.code in order.countries]
        for who in intermediaries(order):
            theirs = [p for p in ordered if p.resolver in who.resolvers]
            mine = [p for p in ordered if _mine(p, who)]
            dns = sorted({p.site_verdict.method for p in mine if p.site_verdict.layer == "dns"})
            edge = sorted({p.site_verdict.method for p in mine
                           if p.site_verdict.party == "edge"})
            others = sorted({f"{p.site_verdict.blocked_by} {p.site_verdict.label}"
                             for p in theirs
                             if p.site_verdict.verdict == "blocked" and not _mine(p, who)})
            first = min((p.round.number for p in mine), default=None)
            out.append(Remedy(order.order_id, who.name, tuple(dns), tuple(edge), first,
                              tuple(others)))
    return out
