"""Reports: run a query, turn its rows into a `Report` (named, typed columns and
plain values). Rendering (table, JSON, CSV, charts, HTML) only formats a Report,
so every output shows the same numbers.

`build_report(name, filters, query)` is the one entry point: `query` is any
callable running SQL with parameters - a ClickHouseDatabase's `rows`, the
collector store's `rows` behind the Reports RPC, or a lab test's own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from blockwatch.analysis import queries
from blockwatch.analysis.errors import UsageError
from blockwatch.analysis.filters import Filters

Value = str | int | float | None
Kind = Literal["text", "int", "pct", "date", "time", "bool"]
QueryFn = Callable[[str, dict[str, Any]], Sequence[Sequence[Any]]]


def snake(title: str) -> str:
    """A column title as a JSON/CSV key: 'share blocked %' -> 'share_blocked_pct'."""
    text = title.replace("%", " pct").lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    kind: Kind = "text"

    @property
    def key(self) -> str:
        return snake(self.title)


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Value, ...], ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns)

    def records(self) -> list[dict[str, Value]]:
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows]

    def column(self, key: str) -> list[Value]:
        i = self.keys.index(key)
        return [row[i] for row in self.rows]


def share_pct(part: int, whole: int) -> float | None:
    """Percent with one decimal, computed once for every format; None: no data."""
    return round(100.0 * part / whole, 1) if whole else None


def _iso_time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value)


def _iso_date(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else None if value is None \
        else str(value)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


# -- one function per report: rows of its query -> Report ------------------------

_ASN = Column("asn", "int")


def _with_asn(columns: list[Column], filters: Filters, before: str) -> tuple[Column, ...]:
    if filters.by_asn:
        columns.insert([c.key for c in columns].index(before), _ASN)
    return tuple(columns)


def _effectiveness(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    columns = _with_asn([Column("country"), Column("resolver"), Column("site"),
                         Column("blocked", "int"), Column("total", "int"),
                         Column("share blocked %", "pct"), Column("method"),
                         Column("filtered", "int"), Column("inconclusive", "int")], f, "resolver")
    out = []
    for country, asn, resolver, site, blocked, total, filtered, inconclusive, method in rows:
        row: list[Value] = [country, resolver, site, int(blocked), int(total),
                            share_pct(int(blocked), int(total)), method or None,
                            int(filtered), int(inconclusive)]
        if f.by_asn:
            row.insert(1, int(asn))
        out.append(tuple(row))
    return Report("effectiveness", "Share blocked per country, resolver and site", columns,
                  tuple(out))


def _spillover(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    columns = _with_asn([Column("order"), Column("country"), Column("resolver"),
                         Column("site"), Column("blocked", "int"), Column("total", "int"),
                         Column("share blocked %", "pct"), Column("method")], f, "resolver")
    out = []
    for order, country, asn, resolver, site, blocked, total, _f, _i, method in rows:
        row: list[Value] = [order, country, resolver, site, int(blocked), int(total),
                            share_pct(int(blocked), int(total)), method or None]
        if f.by_asn:
            row.insert(2, int(asn))
        out.append(tuple(row))
    return Report("spillover", "Blocking of ordered sites outside the ordered countries",
                  columns, tuple(out))


def _leakage(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    columns = _with_asn([Column("order"), Column("country"), Column("resolver"),
                         Column("intermediary", "bool"), Column("site"),
                         Column("resolved", "int"), Column("total", "int"),
                         Column("share resolved %", "pct"), Column("last resolved", "time")],
                        f, "resolver")
    out = []
    for order, country, asn, resolver, intermediary, site, resolved, total, last in rows:
        row: list[Value] = [order, country, resolver, "yes" if intermediary else "no", site,
                            int(resolved), int(total), share_pct(int(resolved), int(total)),
                            _iso_time(last)]
        if f.by_asn:
            row.insert(2, int(asn))
        out.append(tuple(row))
    return Report("leakage", "Resolvers in the ordered countries still resolving ordered "
                  "sites since the deadline", columns, tuple(out))


def _compliance(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    columns = _with_asn([Column("order"), Column("intermediary"), Column("deadline", "date"),
                         Column("first blocked", "time"), Column("days late", "int"),
                         Column("blocked since deadline", "int"),
                         Column("total since deadline", "int"),
                         Column("share blocked %", "pct"), Column("mirrors", "int"),
                         Column("mirrors resolving", "int")], f, "deadline")
    as_of = f.as_of()
    out = []
    for (order, resolver, asn, deadline, first, blocked, total, measured, mirrors,
         resolving) in rows:
        days_late: int | None = None
        if first is not None:
            days_late = max(0, (first.date() - deadline).days)
        elif _int(measured):
            days_late = max(0, (as_of - deadline).days)   # never blocked: still late
        row: list[Value] = [order, resolver, _iso_date(deadline), _iso_time(first), days_late,
                            _int(blocked), _int(total), share_pct(_int(blocked), _int(total)),
                            _int(mirrors), _int(resolving)]
        if f.by_asn:
            row.insert(2, None if asn is None else int(asn))
        out.append(tuple(row))
    return Report("compliance", "Compliance per order and intermediary", columns, tuple(out))


def _timeline(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    columns = (Column("day", "date"), Column("resolver"), Column("blocked", "int"),
               Column("total", "int"), Column("share blocked %", "pct"))
    out = tuple((_iso_date(day), resolver, int(blocked), int(total),
                 share_pct(int(blocked), int(total)))
                for day, resolver, blocked, total in rows)
    return Report("timeline", "Share blocked per day and resolver", columns, out)


def _probes(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    columns = (Column("probe"), Column("country"), Column("asn", "int"),
               Column("control", "bool"), Column("last seen", "time"),
               Column("measurements", "int"), Column("failures", "int"),
               Column("errors", "int"), Column("blocked", "int"),
               Column("blocked controls", "int"))
    out = tuple((name, country, int(asn), "yes" if control else "no", _iso_time(last),
                 int(measurements), int(failures), _int(errors), _int(blocked),
                 _int(blocked_controls))
                for (name, country, asn, control, last, measurements, failures, errors,
                     blocked, blocked_controls) in rows)
    return Report("probes", "Vantage points", columns, out)


@dataclass(frozen=True, slots=True)
class _Spec:
    sql: str
    build: Callable[[Sequence[Sequence[Any]], Filters], Report]
    filters: frozenset[str]     # which filters apply; others are a usage error
    by_asn: bool


_ALL = frozenset({"order", "country", "resolver", "site", "since", "until"})
REPORTS: dict[str, _Spec] = {
    "effectiveness": _Spec(queries.EFFECTIVENESS, _effectiveness, _ALL, True),
    "compliance": _Spec(queries.COMPLIANCE, _compliance, _ALL, True),
    "leakage": _Spec(queries.LEAKAGE, _leakage, _ALL, True),
    "spillover": _Spec(queries.SPILLOVER, _spillover, _ALL, True),
    "timeline": _Spec(queries.TIMELINE, _timeline, _ALL, False),
    "probes": _Spec(queries.PROBES, _probes,
                    frozenset({"country", "resolver", "since", "until"}), False),
}
REPORT_NAMES = tuple(REPORTS)


def check_request(name: str, filters: Filters) -> None:
    spec = REPORTS.get(name)
    if spec is None:
        raise UsageError(f"unknown report {name!r}; one of {', '.join(REPORT_NAMES)}",
                         field="report")
    for field in ("order", "site"):
        if getattr(filters, field) and field not in spec.filters:
            raise UsageError(f"does not apply to the {name} report", field=field)
    if filters.by_asn and not spec.by_asn:
        raise UsageError(f"--by asn does not apply to the {name} report", field="by")


def build_report(name: str, filters: Filters, query: QueryFn) -> Report:
    """Run report `name` with `filters` through `query(sql, parameters)`."""
    check_request(name, filters)
    spec = REPORTS[name]
    return spec.build(query(spec.sql, filters.parameters()), filters)
