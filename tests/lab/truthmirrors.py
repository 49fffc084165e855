"""Mirror discovery's ground truth (issue 14): which candidates each order of the
lab world should show, from which source and round, and how reachable they are
in the order's countries, computed from the world's description in
tests/lab/truth.py (its web servers, certificates and policies), never from
the collector's code.

The sources, as the lab world has them:
- redirect: a listed domain's server (seen from the control vantage) answers a
  Location on another domain (ilcorsaronero.link -> ilcorsaronero.info);
- certificate: the certificate a listed domain's server presents names
  another domain (kickasstorrents.to's names kickasstorrents.cr);
- variant: a candidate under another TLD with a listed domain's label,
  measured from the control vantage (so only once the collector's schedule
  put it in a round: the CandidatePlan), serving the site's page (its title:
  the lab's pages are title and text only) or redirecting to the site;
- cohost: none (no two lab names share a non-CDN address; consistency checks it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from tests.lab import truth, truthlayers
from tests.lab.truth import CandidatePlan, Order, Site, WebHost


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence discovery should keep for a candidate."""

    order_id: str
    site: str
    candidate: str
    source: str
    listed_domain: str
    first_round: int
    words: str          # what its evidence text must say


def control_host(name: str) -> WebHost | None:
    """The server a name leads to from the control vantage (None: no such name)."""
    address = truth.site_address(name)
    return truth.web_host(address, truth.CONTROL_COUNTRY) if address else None


def _label(name: str) -> str:
    # every lab name is <label>.<tld>: the registrable domain is the name itself
    return name.split(".", maxsplit=1)[0]


def _site_pages(site: Site, round_number: int) -> tuple[set[str], set[str]]:
    """(titles of the site's own pages from the control vantage, its listed names)."""
    names = {d.name for d in site.domains if d.added_round <= round_number}
    hosts = [h for n in names if (h := control_host(n)) is not None]
    return {h.title for h in hosts if not h.redirect_to}, names


def evidence(candidates: CandidatePlan, through_round: int) -> list[Evidence]:
    """Every piece of evidence up to a round (earliest first seen per candidate,
    source and listed domain); candidates the order lists by then left out."""
    found: dict[tuple[str, str, str, str], Evidence] = {}

    def add(order: Order, site: Site, name: str, source: str, *, listed: str, rnd: int,
            words: str) -> None:
        key = (order.order_id, name, source, listed)
        if key not in found:
            found[key] = Evidence(order.order_id, site.name, name, source, listed, rnd, words)

    for rnd in truth.ROUNDS[:through_round]:
        listed = truth.order_domains(rnd.number)
        for order, site, domain in listed:
            host = control_host(domain.name)
            if host is None:
                continue
            if host.redirect_to and host.redirect_to != domain.name:
                add(order, site, host.redirect_to, "redirect", listed=domain.name,
                    rnd=rnd.number, words=f"{domain.name} answered 301 Location {host.location}")
            for name in host.sans:
                if name != domain.name:
                    add(order, site, name, "certificate", listed=domain.name,
                        rnd=rnd.number, words=f"certificate of {domain.name} (sha256 ")
        for name in sorted(candidates.get(rnd.number, ())):
            seen = control_host(name)
            if seen is None:
                continue
            for order, site, domain in listed:
                if name == domain.name or _label(name) != _label(domain.name):
                    continue
                titles, names = _site_pages(site, rnd.number)
                why = f"{name} (generated from {domain.name}) "
                if not seen.redirect_to and seen.title in titles:
                    add(order, site, name, "variant", listed=domain.name, rnd=rnd.number,
                        words=why + "serves the site's page")
                elif seen.redirect_to in names:
                    add(order, site, name, "variant", listed=domain.name, rnd=rnd.number,
                        words=why + "redirects to the site")
    listed_then = {(o.order_id, d.name) for o, _, d in truth.order_domains(through_round)}
    return sorted((e for e in found.values() if (e.order_id, e.candidate) not in listed_then),
                  key=lambda e: (e.order_id, e.site, e.candidate, e.source, e.listed_domain))


def every_name_measured() -> CandidatePlan:
    """A plan measuring every name the world serves in every round: what discovery
    could find with an unbounded schedule."""
    served = frozenset(n for h in truth.WEB_HOSTS for n in h.names)
    return {r.number: served for r in truth.ROUNDS}


def true_mirrors(through_round: int) -> set[tuple[str, str]]:
    """(order, candidate): every unlisted name the world shows to be an ordered site's."""
    return {(e.order_id, e.candidate) for e in evidence(every_name_measured(), through_round)}


def unrelated_variants() -> set[str]:
    """Names in the world under a listed domain's label that are another site:
    measured as generated variants, never to be proposed."""
    listed = {_label(d.name) for o in truth.ORDERS for _, d in o.domains()}
    mirrors = {c for _, c in true_mirrors(len(truth.ROUNDS))}
    listed_names = {d.name for o in truth.ORDERS for _, d in o.domains()}
    return {n for h in truth.WEB_HOSTS for n in h.names
            if _label(n) in listed and n not in mirrors and n not in listed_names}


def expected_mirrors(candidates: CandidatePlan, through_round: int) -> list[dict[str, object]]:
    """The `report mirrors` rows after a round: per candidate x country of the order x
    intermediary group, its sources, first seen (as a round), and what the order's
    countries measured of it (as candidate, or as target once listed) through every
    resolver of the group; unreachable when the group's own edge refuses it."""
    pieces: dict[tuple[str, str, str], list[Evidence]] = defaultdict(list)
    for e in evidence(candidates, through_round):
        pieces[(e.order_id, e.site, e.candidate)].append(e)
    rows: list[dict[str, object]] = []
    for (order_id, site, name), found in sorted(pieces.items()):
        order = next(o for o in truth.ORDERS if o.order_id == order_id)
        seen = [r for r in truth.ROUNDS[:through_round]
                if truth.round_names(r.number, candidates).get(name, ("", ""))[1]
                in ("candidate", "target")]
        for country in order.countries:
            # one row per intermediary group of the order (Cloudflare's resolvers and
            # its edge are one), measured through every resolver of the group: each
            # probe measures the name through every resolver in each round it is in
            for group in truthlayers.intermediaries(order):
                measured = [(r, resolver) for r in seen for resolver in group.resolvers]
                ok = [(r, resolver) for r, resolver in measured if name not in truth.policy(
                    country, truth.RESOLVER_OPERATOR[resolver], r.number)]
                last = seen[-1] if seen else None
                edge = truth.edge_blocks(country, last.number).get(name) if last else None
                refused = edge is not None and edge.operator in group.networks
                resolved_last = any(r == last for r, _ in ok)
                rows.append({
                    "order": order_id, "site": site, "candidate": name,
                    "sources": ",".join(sorted({e.source for e in found})),
                    "first_seen_round": min(e.first_round for e in found),
                    "country": country, "intermediary": group.name,
                    "resolved": len(ok), "measured": len(measured),
                    "last_measured": last.day.isoformat() if last else None,
                    "reachable": "not measured" if last is None else
                    "yes" if resolved_last and not refused else "no"})
    return rows
