"""What a probe should measure: pure, from the orders and the collector's config.

Every probe gets every ordered domain, whatever its country: blocking outside
the ordered countries (spillover) is only visible if probes there ask too.
Resolvers come from the config, filtered by the probe's country. Mirror
candidates (issue 14) ride along at a bounded share of the round, a window
that moves with each of the probe's check-ins so every candidate is measured
in turn.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from blockwatch.collector.orders import OrderSet
from blockwatch.collector.settings import AssignmentSettings, ResolverEntry
from blockwatch.contract.vocabulary import Purpose


@dataclass(frozen=True, slots=True)
class TargetEntry:
    domain: str
    site: str
    purpose: Purpose


@dataclass(frozen=True, slots=True)
class Assignment:
    version: str
    targets: tuple[TargetEntry, ...]
    resolvers: tuple[ResolverEntry, ...]
    qtypes: tuple[int, ...]
    interval_s: int
    jitter_s: int


def _turn(pool: Sequence[tuple[str, str]], n: int, k: int) -> list[tuple[str, str]]:
    """The k-th window of n over pool, wrapping."""
    start = (k * n) % len(pool)
    return [pool[(start + i) % len(pool)] for i in range(n)]


def candidate_window(candidates: Sequence[tuple[str, str]], others: int, share: float,
                     offset: int, pinned: int = 0) -> list[tuple[str, str]]:
    """At most `share` of the round's names, the other `others` included:
    cap/(others+cap) <= share (at least one). The first `pinned` candidates
    (derived ones: evidence points at them) take all but one place of each
    window, the generated rest at least one (a budget of one alternates), so
    neither kind starves; each kind's window moves with `offset`."""
    if not candidates or share <= 0:
        return []
    cap = max(1, math.floor(share * others / (1 - share)))
    if cap >= len(candidates):
        return list(candidates)
    first, rest = candidates[:pinned], candidates[pinned:]
    if not first or not rest:
        return _turn(first or rest, cap, offset)
    if cap == 1:
        return _turn(first if offset % 2 == 0 else rest, 1, offset // 2)
    n_first = min(len(first), cap - 1)
    return _turn(first, n_first, offset) + _turn(rest, cap - n_first, offset)


def build_assignment(country: str, orders: OrderSet, config: AssignmentSettings, *,
                     candidates: Sequence[tuple[str, str]] = (), offset: int = 0,
                     pinned: int = 0) -> Assignment:
    targets: dict[str, TargetEntry] = {}
    for order in orders.orders:
        for site in order.sites:
            for d in site.domains:
                targets.setdefault(d.domain, TargetEntry(d.domain, site.name, Purpose.TARGET))
    for domain in orders.control_domains:
        targets.setdefault(domain, TargetEntry(domain, "", Purpose.CONTROL))
    for domain, site_name in candidate_window(candidates, len(targets), config.candidate_share,
                                             offset, pinned):
        targets.setdefault(domain, TargetEntry(domain, site_name, Purpose.CANDIDATE))
    resolvers = tuple(r for r in config.resolvers if not r.countries or country in r.countries)
    ordered = tuple(sorted(targets.values(), key=lambda t: (t.purpose, t.site, t.domain)))
    content = json.dumps({
        "targets": [asdict(t) for t in ordered],
        "resolvers": [[r.name, r.transport, r.address, r.port, r.tls_name, r.url]
                      for r in resolvers],
        "qtypes": config.qtypes, "interval": config.interval_s, "jitter": config.jitter_s,
    }, sort_keys=True)
    version = hashlib.sha256(content.encode()).hexdigest()[:16]
    return Assignment(version, ordered, resolvers, config.qtypes, config.interval_s,
                      config.jitter_s)
