"""Reports: run a query, turn its rows into a `Report` (named, typed columns and
plain values). Rendering (table, JSON, CSV, charts, HTML) only formats a Report,
so every output shows the same numbers.

`build_report(name, filters, query)` is the one entry point: `query` is any
callable running SQL with parameters - a ClickHouseDatabase's `rows`, the
collector store's `rows` behind the Reports RPC, or a lab test's own.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from blockwatch.analysis import compliancequeries, mirrors, queries
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


def iso_time(value: Any) -> str | None:
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
# Optional grains (--by asn, --by domain) add columns; a row is built as
# (column, value) pairs and the ones that do not apply are dropped.

Cell = tuple[Column, Value, bool]   # column, value, shown


def _report(name: str, title: str, rows: list[list[Cell]], base: list[Cell]) -> Report:
    """`base`: any row's cells (a template when there are no rows) for the columns."""
    columns = tuple(c for c, _, shown in base if shown)
    return Report(name, title, columns,
                  tuple(tuple(v for _, v, shown in row if shown) for row in rows))


# One Column object per (title, kind), made once: building 11 of them for each of
# 12,000 rows cost 0.2-0.4 s, three times the effectiveness query at 10M rows
# (bench/reports.py), where the report had been ~0.2 s.
_C = functools.cache(Column)


def _effectiveness(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    # The hot report (12,000 rows at 100M measurements): columns and the
    # grains' mask are decided once, each row is only its values.
    kept = [i for i, (_, by) in enumerate(_EFFECTIVENESS_COLUMNS) if by is None or by == f.by]
    columns = tuple(_EFFECTIVENESS_COLUMNS[i][0] for i in kept)
    pick = operator.itemgetter(*kept)   # more than one column: a tuple
    out = []
    for country, asn, resolver, site, domain, blocked, total, filtered, inconclusive, method \
            in rows:
        b, t = int(blocked), int(total)
        values = (country, int(asn), resolver, site, domain, b, t, share_pct(b, t),
                  method or None, int(filtered), int(inconclusive))
        out.append(pick(values))
    return Report("effectiveness", "Share blocked per country, resolver and site", columns,
                  tuple(out))


# (column, the --by grain that shows it; None: always), in the query's order
_EFFECTIVENESS_COLUMNS: tuple[tuple[Column, str | None], ...] = (
    (Column("country"), None), (Column("asn", "int"), "asn"), (Column("resolver"), None),
    (Column("site"), None), (Column("domain"), "domain"), (Column("blocked", "int"), None),
    (Column("total", "int"), None), (Column("share blocked %", "pct"), None),
    (Column("method"), None), (Column("filtered", "int"), None),
    (Column("inconclusive", "int"), None))


def _spillover(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    def cells(row: Sequence[Any]) -> list[Cell]:
        order, country, asn, resolver, site, domain, blocked, total, _f, _i, method = row
        return [(_C("order"), order, True), (_C("country"), country, True),
                (_C("asn", "int"), int(asn), f.by_asn), (_C("resolver"), resolver, True),
                (_C("site"), site, True), (_C("domain"), domain, f.by_domain),
                (_C("blocked", "int"), int(blocked), True),
                (_C("total", "int"), int(total), True),
                (_C("share blocked %", "pct"), share_pct(int(blocked), int(total)), True),
                (_C("method"), method or None, True)]
    return _report("spillover", "Blocking of ordered sites outside the ordered countries",
                   [cells(r) for r in rows], cells(("", "", 0, "", "", "", 0, 0, 0, 0, "")))


def _leakage(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    def cells(row: Sequence[Any]) -> list[Cell]:
        (order, country, asn, resolver, intermediary, site, domain, kind, due, resolved, total,
         last) = row
        return [(_C("order"), order, True), (_C("country"), country, True),
                (_C("asn", "int"), int(asn), f.by_asn), (_C("resolver"), resolver, True),
                (_C("intermediary", "bool"), "yes" if intermediary else "no", True),
                (_C("site"), site, True), (_C("domain"), domain, f.by_domain),
                (_C("kind"), kind, f.by_domain), (_C("due", "date"), _iso_date(due), f.by_domain),
                (_C("resolved", "int"), int(resolved), True),
                (_C("total", "int"), int(total), True),
                (_C("share resolved %", "pct"), share_pct(int(resolved), int(total)), True),
                (_C("last resolved", "time"), iso_time(last), True)]
    return _report("leakage", "Resolvers in the ordered countries still resolving ordered "
                   "sites since they were due", [cells(r) for r in rows],
                   cells(("", "", 0, "", 0, "", "", "", None, 0, 0, None)))


def _compliance(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    # compliance.py builds on this module's Column/Report: imported here, not at the top
    from blockwatch.analysis import compliance
    return compliance.build(rows, f)


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
    out = tuple((name, country, int(asn), "yes" if control else "no", iso_time(last),
                 int(measurements), int(failures), _int(errors), _int(blocked),
                 _int(blocked_controls))
                for (name, country, asn, control, last, measurements, failures, errors,
                     blocked, blocked_controls) in rows)
    return Report("probes", "Vantage points", columns, out)


def _mirrors(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    columns = tuple(Column(title, kind) for title, kind in mirrors.COLUMNS)  # type: ignore[arg-type]
    out = []
    for row in rows:
        v = mirrors.values(row)
        out.append((*v[:5], iso_time(v[5]), *v[6:]))
    return Report("mirrors", "Mirror candidates per order", columns, tuple(out))


@dataclass(frozen=True, slots=True)
class _Spec:
    sql: str
    build: Callable[[Sequence[Sequence[Any]], Filters], Report]
    filters: frozenset[str]     # which filters apply; others are a usage error
    grains: frozenset[str]      # which --by values apply besides the default (country)


_ALL = frozenset({"order", "country", "resolver", "site", "since", "until"})
_GRAINS = frozenset({"asn", "domain"})
REPORTS: dict[str, _Spec] = {
    "effectiveness": _Spec(queries.EFFECTIVENESS, _effectiveness, _ALL, _GRAINS),
    "compliance": _Spec(compliancequeries.COMPLIANCE, _compliance, _ALL, _GRAINS),
    "leakage": _Spec(queries.LEAKAGE, _leakage, _ALL, _GRAINS),
    "spillover": _Spec(queries.SPILLOVER, _spillover, _ALL, _GRAINS),
    "timeline": _Spec(queries.TIMELINE, _timeline, _ALL, frozenset()),
    "probes": _Spec(queries.PROBES, _probes,
                    frozenset({"country", "resolver", "since", "until"}), frozenset()),
    "mirrors": _Spec(mirrors.MIRRORS, _mirrors,
                     frozenset({"order", "country", "resolver", "site"}), frozenset()),
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
    if filters.by and filters.by not in spec.grains:
        raise UsageError(f"--by {filters.by} does not apply to the {name} report", field="by")


def build_report(name: str, filters: Filters, query: QueryFn) -> Report:
    """Run report `name` with `filters` through `query(sql, parameters)`."""
    check_request(name, filters)
    spec = REPORTS[name]
    return spec.build(query(spec.sql, filters.parameters()), filters)
