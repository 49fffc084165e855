"""The compliance report: per order and intermediary, what the site layer shows
(first blocked by the intermediary's own hand, days late only with evidence,
the remedy observed, blocks by others apart, mirrors still reachable). Rows
come from compliancequeries.COMPLIANCE; reports.py registers the report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blockwatch.analysis.filters import Filters
from blockwatch.analysis.lateness import NOT_MEASURED, Lateness, judge
from blockwatch.analysis.reports import (
    _C,
    Cell,
    Report,
    _int,
    _iso_date,
    _report,
    iso_time,
    share_pct,
)

_LAYERS = ("dns", "ip", "tcp", "tls", "http")
NONE_OBSERVED = "none observed"


def remedy(how: Sequence[Sequence[str]], own_paths_measured: bool) -> str | None:
    """The remedy observed, from the intermediary's own blocks (site layer,
    party, method): "edge http-451, DNS unchanged", "DNS nxdomain + edge
    http-451", "DNS ede"; "none observed" when measured and never blocked by
    its hand; None when nothing was measured."""
    dns = sorted({m for _, party, m in how if party == "resolver"})
    rest = sorted({(layer, party, m) for layer, party, m in how if party != "resolver"},
                  key=lambda t: (_LAYERS.index(t[0]) if t[0] in _LAYERS else 9, t[1], t[2]))
    parts = ([f"DNS {'/'.join(dns)}"] if dns else []) + [f"{p} {m}" for _, p, m in rest]
    if not parts:
        return NONE_OBSERVED if own_paths_measured or how else None
    text = " + ".join(parts)
    return f"{text}, DNS unchanged" if not dns and own_paths_measured else text


def others(whose: Sequence[Sequence[str]]) -> str | None:
    """Who else blocked on the paths in scope: "resolver isp: sinkhole; network AS3269: ip-drop"."""
    out = []
    for party, operator, resolver, method in sorted({tuple(w) for w in whose}):
        who = f"resolver {resolver}" if party == "resolver" else \
            f"{party} {operator}" if operator else party
        out.append(f"{who}: {method}")
    return "; ".join(out) or None


def build(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    as_of = f.as_of()

    def cells(row: Sequence[Any]) -> list[Cell]:
        (order, intermediary, asn, domain, kind, added, deadline, due, since, first,
         open_after, blocked, total, other, own_paths, how, whose, mirrors, reachable,
         overdue) = row
        # one domain: its own due day; the order: the order's deadline
        when = due if f.by_domain and due is not None else deadline
        judged = judge(when, since, first, open_after, as_of) if when is not None \
            else Lateness(NOT_MEASURED, None)
        measured = since is not None
        return [(_C("order"), order, True), (_C("intermediary"), intermediary, True),
                (_C("asn", "int"), None if asn is None else int(asn), f.by_asn),
                (_C("domain"), domain or None, f.by_domain),
                (_C("kind"), kind or None, f.by_domain),
                (_C("added", "date"), _iso_date(added), f.by_domain),
                (_C("deadline", "date"), _iso_date(when), True),
                (_C("status"), judged.status, True),
                (_C("monitoring since", "date"),
                 _iso_date(since.date()) if since is not None else None, True),
                (_C("first blocked", "time"), iso_time(first), True),
                (_C("days late", "int"), judged.days_late, True),
                (_C("remedy"), remedy(how or (), bool(own_paths)) if measured else None,
                 True),
                (_C("blocked since deadline", "int"), _int(blocked), True),
                (_C("total since deadline", "int"), _int(total), True),
                (_C("share blocked %", "pct"), share_pct(_int(blocked), _int(total)), True),
                (_C("blocked by others", "int"), _int(other), True),
                (_C("others"), others(whose or ()), True),
                (_C("mirrors", "int"), _int(mirrors), True),
                (_C("mirrors reachable", "int"), _int(reachable), True),
                (_C("mirrors overdue", "int"), _int(overdue), True)]
    empty = ("", "", None, None, None, None, None, None, None, None, None, 0, 0, 0, 0, (), (),
             0, 0, 0)
    return _report("compliance", "Compliance per order and intermediary",
                   [cells(r) for r in rows], cells(empty))
