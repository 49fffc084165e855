"""The compliance report: per order and intermediary, what the measurements show
(first blocked, days late only with evidence, mirrors). Rows come from
compliancequeries.COMPLIANCE; reports.py registers the report."""

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


def build(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    as_of = f.as_of()

    def cells(row: Sequence[Any]) -> list[Cell]:
        (order, resolver, asn, domain, kind, added, deadline, due, since, first, open_after,
         blocked, total, mirrors, resolving, overdue) = row
        # one domain: its own due day; the order: the order's deadline
        when = due if f.by_domain and due is not None else deadline
        judged = judge(when, since, first, open_after, as_of) if when is not None \
            else Lateness(NOT_MEASURED, None)
        return [(_C("order"), order, True), (_C("intermediary"), resolver, True),
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
                (_C("blocked since deadline", "int"), _int(blocked), True),
                (_C("total since deadline", "int"), _int(total), True),
                (_C("share blocked %", "pct"), share_pct(_int(blocked), _int(total)), True),
                (_C("mirrors", "int"), _int(mirrors), True),
                (_C("mirrors resolving", "int"), _int(resolving), True),
                (_C("mirrors overdue", "int"), _int(overdue), True)]
    empty = ("", "", None, None, None, None, None, None, None, None, None, 0, 0, 0, 0, 0)
    return _report("compliance", "Compliance per order and intermediary",
                   [cells(r) for r in rows], cells(empty))
