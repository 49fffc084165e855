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


def blocked_by(party: Any, operator: Any) -> str | None:
    """Who blocked, as people say it: "edge cloudflare", "network", "resolver quad9"."""
    who = " ".join(str(x) for x in (party, operator) if x)
    return who or None


def _how(layer: Any, method: Any, party: Any, operator: Any) -> tuple[Value, Value, Value]:
    """The dominant way of blocking as the layer, method and blocked-by cells."""
    return (str(layer) or None, str(method) or None, blocked_by(party, operator))


# the columns every layered report ends its counts with: where, how, by whom
_HOW_COLUMNS = (Column("layer"), Column("method"), Column("blocked by"))
LAYER_TITLES = {"dns": "DNS layer", "web": "web layer", "site": "site: first layer that blocks"}


def _titled(title: str, f: Filters) -> str:
    return f"{title} ({LAYER_TITLES[f.layer_name]})"


def _effectiveness(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    # The hot report (12,000 rows at 100M measurements): columns and the
    # grains' mask are decided once, each row is only its values.
    kept = [i for i, (_, by) in enumerate(_EFFECTIVENESS_COLUMNS) if by is None or by == f.by]
    columns = tuple(_EFFECTIVENESS_COLUMNS[i][0] for i in kept)
    pick = operator.itemgetter(*kept)   # more than one column: a tuple
    out = []
    for (country, asn, resolver, site, domain, blocked, total, filtered, inconclusive, layer,
         method, party, who) in rows:
        b, t = int(blocked), int(total)
        values = (country, int(asn), resolver, site, domain, b, t, share_pct(b, t),
                  layer or None, method or None, blocked_by(party, who), int(filtered),
                  int(inconclusive))
        out.append(pick(values))
    return Report("effectiveness", _titled("Share blocked per country, resolver and site", f),
                  columns, tuple(out))


# (column, the --by grain that shows it; None: always), in the query's order
_EFFECTIVENESS_COLUMNS: tuple[tuple[Column, str | None], ...] = (
    (Column("country"), None), (Column("asn", "int"), "asn"), (Column("resolver"), None),
    (Column("site"), None), (Column("domain"), "domain"), (Column("blocked", "int"), None),
    (Column("total", "int"), None), (Column("share blocked %", "pct"), None),
    *((c, None) for c in _HOW_COLUMNS), (Column("filtered", "int"), None),
    (Column("inconclusive", "int"), None))


def _spillover(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    def cells(row: Sequence[Any]) -> list[Cell]:
        (order, country, asn, resolver, site, domain, blocked, total, _f, _i, *how) = row
        return [(_C("order"), order, True), (_C("country"), country, True),
                (_C("asn", "int"), int(asn), f.by_asn), (_C("resolver"), resolver, True),
                (_C("site"), site, True), (_C("domain"), domain, f.by_domain),
                (_C("blocked", "int"), int(blocked), True),
                (_C("total", "int"), int(total), True),
                (_C("share blocked %", "pct"), share_pct(int(blocked), int(total)), True),
                *((c, v, True) for c, v in zip(_HOW_COLUMNS, _how(*how), strict=True))]
    empty = ("", "", 0, "", "", "", 0, 0, 0, 0, "", "", "", "")
    return _report("spillover", _titled("Blocking of ordered sites outside the ordered "
                                        "countries", f), [cells(r) for r in rows], cells(empty))


def _leakage(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    def cells(row: Sequence[Any]) -> list[Cell]:
        (order, country, asn, resolver, transport, family, intermediary, site, domain, kind, due,
         _b, total, _f, _i, reached, last, *how) = row
        return [(_C("order"), order, True), (_C("country"), country, True),
                (_C("asn", "int"), int(asn), f.by_asn), (_C("resolver"), resolver, True),
                (_C("transport"), transport, True), (_C("family", "int"), int(family), True),
                (_C("intermediary", "bool"), "yes" if intermediary else "no", True),
                (_C("site"), site, True), (_C("domain"), domain, f.by_domain),
                (_C("kind"), kind, f.by_domain), (_C("due", "date"), _iso_date(due), f.by_domain),
                (_C("reached", "int"), int(reached), True),
                (_C("total", "int"), int(total), True),
                (_C("share reached %", "pct"), share_pct(int(reached), int(total)), True),
                (_C("last reached", "time"), iso_time(last), True),
                *((c, v, True) for c, v in zip(_HOW_COLUMNS, _how(*how), strict=True))]
    empty = ("", "", 0, "", "", 0, 0, "", "", "", None, 0, 0, 0, 0, 0, None, "", "", "", "")
    return _report("leakage", _titled("Paths in the ordered countries still reaching ordered "
                                      "sites since they were due", f),
                   [cells(r) for r in rows], cells(empty))


def _compliance(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    # compliance.py builds on this module's Column/Report: imported here, not at the top
    from blockwatch.analysis import compliance
    return compliance.build(rows, f)


def _timeline(rows: Sequence[Sequence[Any]], f: Filters) -> Report:
    columns = (Column("day", "date"), Column("resolver"), Column("blocked", "int"),
               Column("total", "int"), Column("share blocked %", "pct"), *_HOW_COLUMNS)
    out = tuple((_iso_date(day), resolver, int(blocked), int(total),
                 share_pct(int(blocked), int(total)), *_how(*how))
                for day, resolver, blocked, total, _f, _i, *how in rows)
    return Report("timeline", _titled("Share blocked per day and resolver", f), columns, out)


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
    by_asn_sql: str = ""        # --by asn: the query reading the rollup that has ASNs


_ALL = frozenset({"order", "country", "resolver", "site", "since", "until"})
_LAYERED = _ALL | {"layer"}     # reports reading layers_daily: --layer dns|web|site
_GRAINS = frozenset({"asn", "domain"})
REPORTS: dict[str, _Spec] = {
    "effectiveness": _Spec(queries.EFFECTIVENESS, _effectiveness, _LAYERED, _GRAINS,
                           queries.EFFECTIVENESS_BY_ASN),
    "compliance": _Spec(compliancequeries.COMPLIANCE, _compliance, _ALL, _GRAINS),
    "leakage": _Spec(queries.LEAKAGE, _leakage, _LAYERED, _GRAINS),
    "spillover": _Spec(queries.SPILLOVER, _spillover, _LAYERED, _GRAINS,
                       queries.SPILLOVER_BY_ASN),
    "timeline": _Spec(queries.TIMELINE, _timeline, _LAYERED, frozenset()),
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
    for field in ("order", "site", "layer"):
        if getattr(filters, field) and field not in spec.filters:
            raise UsageError(f"does not apply to the {name} report", field=field)
    if filters.by and filters.by not in spec.grains:
        raise UsageError(f"--by {filters.by} does not apply to the {name} report", field="by")


def takes_layer(name: str) -> bool:
    """Whether report `name` counts one layer (--layer applies)."""
    spec = REPORTS.get(name)
    return spec is not None and "layer" in spec.filters


def build_report(name: str, filters: Filters, query: QueryFn) -> Report:
    """Run report `name` with `filters` through `query(sql, parameters)`."""
    check_request(name, filters)
    spec = REPORTS[name]
    sql = spec.by_asn_sql if filters.by_asn and spec.by_asn_sql else spec.sql
    return spec.build(query(sql, filters.parameters()), filters)
