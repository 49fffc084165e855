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
    http-451", "DNS ede"; "none observed" when never blocked by its hand (the
    caller asks only when something was measured)."""
    dns = sorted({m for _, party, m in how if party == "resolver"})
    rest = sorted({(layer, party, m) for layer, party, m in how if party != "resolver"},
                  key=lambda t: (_LAYERS.index(t[0]) if t[0] in _LAYERS else 9, t[1], t[2]))
    parts = ([f"DNS {'/'.join(dns)}"] if dns else []) + [f"{p} {m}" for _, p, m in rest]
    if not parts:
        return NONE_OBSERVED
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


def _min(values: Sequence[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


Row = tuple[Any, ...]


def _per_domain(rows: Sequence[Sequence[Any]]) -> dict[tuple[Any, ...], list[Any]]:
    """The query's day rows folded per (order, intermediary, ASN, domain):
    counts from the domain's due day on, first times, the latest conclusive
    verdict. An intermediary nothing measured keeps one row with no domain."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    for (order, intermediary, asn, domain, kind, added, deadline, due, day, since, first,
         opened, blocked, total, others_n, own_paths, how, whose, latest, latest_at) in rows:
        key = (order, intermediary, asn, domain)
        d = out.setdefault(key, [kind, added, deadline, due, None, None, None, 0, 0, 0, False,
                                 set(), set(), None, None])
        due_now = day is not None and due is not None and day >= due
        d[4] = _min([d[4], since])
        d[5] = _min([d[5], first])
        if due_now:
            d[6] = _min([d[6], opened])
            d[7] += _int(blocked)
            d[8] += _int(total)
            d[9] += _int(others_n)
        d[10] = d[10] or bool(own_paths)
        d[11].update(map(tuple, how or ()))
        d[12].update(map(tuple, whose or ()))
        if latest_at is not None and (d[14] is None or latest_at > d[14]):
            d[13], d[14] = latest, latest_at
    return out


def report_rows(rows: Sequence[Sequence[Any]], by_domain: bool) -> list[Row]:
    """The query's rows as the report's: per domain, or summed over the
    domains. Mirrors count per domain: measured, its latest site verdict `ok`
    (reachable), and reachable once due (overdue)."""
    out: dict[tuple[Any, ...], list[Row]] = {}
    for (order, intermediary, asn, domain), d in _per_domain(rows).items():
        (kind, added, deadline, due, since, first, opened, blocked, total, others_n,
         own_paths, how, whose, latest, latest_at) = d
        mirror = kind == "mirror" and since is not None
        reachable = mirror and latest == "ok"
        overdue = reachable and due is not None and latest_at.date() >= due
        key = (order, intermediary, asn, domain if by_domain else "")
        out.setdefault(key, []).append((
            kind, added, deadline, due, since, first, opened, blocked, total, others_n,
            own_paths, how, whose, int(mirror), int(reachable), int(overdue)))
    result = []
    for (order, intermediary, asn, domain), parts in out.items():
        cols = list(zip(*parts, strict=True))
        result.append((
            order, intermediary, asn, domain or "", next((k for k in cols[0] if k), None),
            _min(cols[1]), cols[2][0], _min(cols[3]), _min(cols[4]), _min(cols[5]),
            _min(cols[6]), sum(cols[7]), sum(cols[8]), sum(cols[9]), any(cols[10]),
            sorted({h for hs in cols[11] for h in hs}),
            sorted({w for ws in cols[12] for w in ws}),
            sum(cols[13]), sum(cols[14]), sum(cols[15])))
    return result


def day_rows(rows: Sequence[Sequence[Any]]) -> list[tuple[str, Any, int, int, int]]:
    """Per intermediary and day, every day of the window and every domain
    whatever its due day: its own blocks, the measurements counted for it,
    others' blocks (the order page's timelines)."""
    sums: dict[tuple[str, Any], list[int]] = {}
    for row in rows:
        intermediary, day = row[1], row[8]
        if day is None:
            continue
        acc = sums.setdefault((str(intermediary), day), [0, 0, 0])
        acc[0] += _int(row[12])
        acc[1] += _int(row[13])
        acc[2] += _int(row[14])
    return [(name, day, *acc) for (name, day), acc in sorted(sums.items())]


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
                   [cells(r) for r in report_rows(rows, f.by_domain)], cells(empty))
