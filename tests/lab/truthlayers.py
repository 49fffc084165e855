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

import datetime as dt
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


# -- the layered compliance report (site layer; its JSON keys) ------------------------------


def _judge(deadline: dt.date, since: Round | None, first: Round | None,
           open_after: Round | None, as_of: dt.date) -> tuple[str, int | None]:
    """Status and days late, said only with evidence (docs/reports.md)."""
    if since is None:
        return "not measured", None
    if first is None:
        if as_of <= deadline:
            return "never blocked", 0
        return "never blocked", (as_of - deadline).days if open_after else None
    gap = (first.day - since.day).days
    status = "blocked when monitoring began" if gap <= 0 else \
        f"first seen blocked after {gap} day{'' if gap == 1 else 's'} of monitoring"
    late = (first.day - deadline).days
    if late <= 0:
        return status, 0
    evidenced = since.day <= deadline or (open_after is not None and open_after.at < first.at)
    return status, late if evidenced else None


def _remedy_text(how: set[tuple[str, str, str]], own_paths: bool) -> str | None:
    """"edge http-451, DNS unchanged", "DNS nxdomain", "none observed"."""
    dns = sorted({m for _, party, m in how if party == "resolver"})
    rest = sorted({h for h in how if h[1] != "resolver"},
                  key=lambda h: (LAYER_ORDER.index(h[0]), h[1], h[2]))
    parts = ([f"DNS {'/'.join(dns)}"] if dns else []) + [f"{p} {m}" for _, p, m in rest]
    if not parts:
        return "none observed" if own_paths else None
    text = " + ".join(parts)
    return f"{text}, DNS unchanged" if not dns and own_paths else text


def _others_text(whose: set[tuple[str, str, str, str]]) -> str | None:
    """"resolver google: ede; network AS3269: ip-drop"."""
    out = [f"{'resolver ' + resolver if party == 'resolver' else f'{party} {operator}'}: "
           f"{method}" for party, operator, resolver, method in sorted(whose)]
    return "; ".join(out) or None


@dataclass(frozen=True)
class _Seen:
    """One path of the compliance report's scope, judged for one intermediary."""

    path: Path
    own_path: bool
    own: bool
    other: bool
    counted: bool
    due: dt.date

    @property
    def after_due(self) -> bool:
        return self.path.round.day >= self.due


def _seen(order: truth.Order, who: Intermediary, p: Path) -> _Seen | None:
    """The path as the intermediary's compliance sees it (None: out of its scope):
    its own paths, and for an edge every path in the ordered countries."""
    own_path = p.resolver in who.resolvers
    if not (own_path or who.networks):
        return None
    v = p.site_verdict
    own = v.verdict == "blocked" and (
        (v.party == "resolver" and own_path)
        or (v.party in ("network", "edge", "server") and v.operator.lower() in who.networks))
    other = v.verdict == "blocked" and not own
    counted = v.verdict in CONCLUSIVE and (not other or (own_path and not who.networks))
    return _Seen(p, own_path, own, other, counted, truth.due(order, p.domain))


def expected_compliance(as_of: dt.date, every: list[Path], *, by_domain: bool = False
                        ) -> list[dict[str, object]]:
    """Per order and intermediary (and domain): first blocked by its own hand (as
    a round), the remedy observed, blocks by others apart, mirrors still reachable."""
    out: list[dict[str, object]] = []
    for order in truth.ORDERS:
        kinds = {d.name: d for _, d in order.domains()}
        ordered = [p for p in _targets(every)
                   if p.domain in kinds and p.country.code in order.countries]
        for who in intermediaries(order):
            seen = [s for p in ordered if (s := _seen(order, who, p)) is not None]
            groups = ({d: [s for s in seen if s.path.domain == d] for d in sorted(kinds)}
                      if by_domain else {"": seen})
            for domain, mine in groups.items():
                out.append(_compliance_row(order, who, domain, kinds=kinds, mine=mine,
                                           as_of=as_of))
    return sorted(out, key=lambda r: (str(r["order"]), str(r["intermediary"]),
                                      str(r.get("domain", ""))))


def _compliance_row(order: truth.Order, who: Intermediary, domain: str, *,
                    kinds: dict[str, truth.Domain], mine: list[_Seen], as_of: dt.date
                    ) -> dict[str, object]:
    conclusive = [s for s in mine if s.path.site_verdict.verdict in CONCLUSIVE]
    since = min((s.path.round for s in conclusive), key=lambda r: r.at, default=None)
    first = min((s.path.round for s in mine if s.own), key=lambda r: r.at, default=None)
    open_after = min((s.path.round for s in mine if s.after_due and (
        s.path.site_verdict.verdict == "ok" or (s.other and s.counted))),
        key=lambda r: r.at, default=None)
    deadline = truth.due(order, domain) if domain else order.deadline
    status, late = _judge(deadline, since, first, open_after, as_of)
    blocked = sum(s.own and s.after_due for s in mine)
    total = sum(s.counted and s.after_due for s in mine)
    mirrors = reachable = overdue = 0
    for name, d in kinds.items():
        rows = [s for s in conclusive if s.path.domain == name]
        if not d.mirror or not rows or (domain and name != domain):
            continue
        last = max(s.path.round.number for s in rows)
        latest = {s.path.site_verdict.verdict for s in rows if s.path.round.number == last}
        assert len(latest) == 1, f"{name}: the latest verdict depends on the paths' order"
        mirrors += 1
        if latest == {"ok"}:
            reachable += 1
            overdue += truth.round_by_number(last).day >= truth.due(order, name)
    row: dict[str, object] = {"order": order.order_id, "intermediary": who.name}
    if domain:
        d = kinds[domain]
        row |= {"domain": domain, "kind": "mirror" if d.mirror else "domain",
                "added": (order.issued if d.added_round == 1
                          else truth.round_by_number(d.added_round).day).isoformat()}
    own_paths = any(s.own_path for s in conclusive)
    return row | {
        "deadline": deadline.isoformat(), "status": status,
        "monitoring_since": since.day.isoformat() if since else None,
        "first_blocked_round": first.number if first else None, "days_late": late,
        "remedy": _remedy_text({(s.path.site_verdict.layer, s.path.site_verdict.party,
                                 s.path.site_verdict.method) for s in mine if s.own}, own_paths)
        if since else None,
        "blocked_since_deadline": blocked, "total_since_deadline": total,
        "share_blocked_pct": _pct(blocked, total),
        "blocked_by_others": sum(s.other and s.after_due for s in mine),
        "others": _others_text({(s.path.site_verdict.party, s.path.site_verdict.operator,
                                 s.path.resolver if s.path.site_verdict.party == "resolver"
                                 else "", s.path.site_verdict.method)
                                for s in mine if s.other}),
        "mirrors": mirrors, "mirrors_reachable": reachable, "mirrors_overdue": overdue}
