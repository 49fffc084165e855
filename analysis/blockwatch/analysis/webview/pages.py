"""Page content from reports, without I/O: tables whose counts link to the
measurements behind them, the order's story (per intermediary a timeline in
the ordered countries with its markers, mirrors, leakage, spillover, sources)
and the country view. The web app and the static HTML report both use it."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from blockwatch.analysis.filters import Filters
from blockwatch.analysis.render import cell
from blockwatch.analysis.reports import Report, Value, share_pct
from blockwatch.analysis.webview import svg

Link = Callable[[dict[str, Value]], str | None]


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    href: str | None = None
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    headers: tuple[tuple[str, bool], ...]     # title, numeric
    rows: tuple[tuple[Cell, ...], ...]
    csv: str | None = None
    anchor: str = ""
    note: str = ""


def filter_params(f: Filters) -> dict[str, str]:
    out = {"order": f.order, "country": f.country, "resolver": f.resolver, "site": f.site,
           "since": f.since.isoformat() if f.since else "",
           "until": f.until.isoformat() if f.until else "", "by": f.by}
    return {k: v for k, v in out.items() if v}


def url(path: str, params: Mapping[str, str]) -> str:
    clean = {k: v for k, v in params.items() if v}
    return path + ("?" + urlencode(clean) if clean else "")


def measurements_url(**params: str) -> str:
    return url("/measurements", params)


def table(report: Report, links: Mapping[str, Link] | None = None, *, csv: str | None = None,
          anchor: str = "", note: str = "") -> Table:
    links = links or {}
    headers = tuple((c.title, c.kind in ("int", "pct")) for c in report.columns)
    # per column once, not per cell (a key is a regex over its title): the
    # order page's tables hold ~12,000 cells at a 100M rollup
    columns = [(links.get(c.key), numeric) for c, (_, numeric) in zip(report.columns, headers,
                                                                        strict=True)]
    rows = []
    for record in report.records():
        rows.append(tuple(
            Cell(cell(v) if v is not None else "–",
                 link(record) if link is not None and v not in (None, 0) else None, numeric)
            for (link, numeric), v in zip(columns, record.values(), strict=True)))
    return Table(report.title, headers, tuple(rows), csv, anchor, note)


def _s(value: Value) -> str:
    return "" if value is None else str(value)


def days(f: Filters) -> dict[str, str]:
    """since/until as URL parameters (empty ones dropped)."""
    return {k: v for k, v in _days(f).items() if v}


def _days(f: Filters) -> dict[str, str]:
    return {"since": f.since.isoformat() if f.since else "",
            "until": f.until.isoformat() if f.until else ""}


def count_links(name: str, f: Filters) -> dict[str, Link]:
    """For each count column of report `name`, the list of its measurements
    (evidence.Selection: the same rows the report's SQL counts)."""
    base = {"order": f.order, **_days(f)}

    def sel(verdict: str, scope: str = "", **keys: str) -> Link:
        def link(r: dict[str, Value]) -> str:
            picked = {k: _s(r.get(src)) for k, src in keys.items()}
            for key in ("asn", "family"):
                if key in picked and picked[key] in ("", "0"):
                    picked.pop(key)
            return measurements_url(**{**base, **picked}, verdict=verdict, scope=scope)
        return link

    if name == "effectiveness":
        keys = {"country": "country", "resolver": "resolver", "site": "site", "asn": "asn",
                "domain": "domain"}
        return {"blocked": sel("blocked", **keys), "total": sel("total", **keys),
                "filtered": sel("filtered", **keys),
                "inconclusive": sel("inconclusive", **keys)}
    if name == "spillover":
        keys = {"order": "order", "country": "country", "resolver": "resolver", "site": "site",
                "asn": "asn", "domain": "domain"}
        return {"blocked": sel("blocked", "outside", **keys),
                "total": sel("total", "outside", **keys)}
    if name == "leakage":
        # one row per path: its transport and address family too
        keys = {"order": "order", "country": "country", "resolver": "resolver", "site": "site",
                "asn": "asn", "domain": "domain", "transport": "transport",
                "family": "family"}
        return {"reached": sel("ok", "due", **keys), "total": sel("total", "due", **keys)}
    if name == "compliance":
        keys = {"order": "order", "intermediary": "intermediary", "asn": "asn",
                "domain": "domain"}

        def mirrors(r: dict[str, Value]) -> str:
            # a count of domains: the order's table of domains and mirrors
            return f"/orders/{quote(_s(r['order']))}#mirrors"
        return {"blocked_since_deadline": sel("blocked", "due", **keys),
                "total_since_deadline": sel("total", "due", **keys),
                "blocked_by_others": sel("others", "due", **keys),
                "mirrors": mirrors, "mirrors_reachable": mirrors, "mirrors_overdue": mirrors}
    if name == "timeline":
        def day(verdict: str) -> Link:
            def link(r: dict[str, Value]) -> str:
                return measurements_url(order=f.order, country=f.country, site=f.site,
                                        resolver=_s(r["resolver"]), since=_s(r["day"]),
                                        until=_s(r["day"]), verdict=verdict)
            return link
        return {"blocked": day("blocked"), "total": day("total")}
    return {}


def report_table(name: str, report: Report, f: Filters, *, note: str = "",
                 links: Mapping[str, Link] | None = None) -> Table:
    extra = {"order": lambda r: f"/orders/{quote(_s(r['order']))}" if r.get("order") else None,
             "country": lambda r: f"/countries/{quote(_s(r['country']))}"
             if r.get("country") else None}
    merged: dict[str, Link] = {**extra, **count_links(name, f), **(links or {})}
    params = filter_params(f)
    return table(report, merged, csv=url(f"/api/v1/reports/{name}",
                                          {**params, "format": "csv"}),
                 anchor=name, note=note)


# -- the order's story -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Intermediary:
    name: str
    status: str
    deadline: str
    monitoring_since: str
    first_blocked: str
    days_late: str
    share: str
    chart: str
    table: Table
    remedy: str = "–"          # by its own hand: "edge http-451, DNS unchanged"
    others: str = "–"          # blocks on its paths by another party, and whose
    blocked_by_others: str = "0"


@dataclass
class OrderStory:
    order: dict[str, Value]
    intermediaries: list[Intermediary] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    rounds_url: str = ""


def _date(value: Value) -> dt.date | None:
    if not value:
        return None
    return dt.date.fromisoformat(str(value)[:10])


def per_day(days: Report) -> dict[str, list[tuple[dt.date, int, int]]]:
    """Per intermediary, (day, blocked by its hand, counted) in day order
    (evidence kind compliance_days)."""
    out: dict[str, list[tuple[dt.date, int, int]]] = defaultdict(list)
    for r in days.records():
        day = _date(r["day"])
        assert day is not None
        out[str(r["intermediary"])].append((day, int(r["blocked"] or 0), int(r["total"] or 0)))
    return out


def order_story(order: dict[str, Value], f: Filters, *, compliance: Report,
                by_domain: Report, timeline: Report, leakage: Report,
                spillover: Report, sources: Report, domains: Report,
                note: str = "") -> OrderStory:
    story = OrderStory(order)
    countries = str(order["countries"]).split()
    daily = per_day(timeline)
    for row in compliance.records():
        name = str(row["intermediary"])
        points = daily.get(name, [])
        markers = []
        for key, label, colour, dash in (("deadline", "deadline", svg.VERMILLION, "6 3"),
                                         ("monitoring_since", "monitoring began", svg.GREEN,
                                          "2 3"),
                                         ("first_blocked", "first effective block",
                                          svg.PURPLE, "")):
            day = _date(row.get(key))
            if day is not None:
                markers.append(svg.Marker(day, label, colour, dash))
        remedy = _s(row.get("remedy")) or "–"
        chart = svg.timeline_svg(
            [(d, share_pct(b, t)) for d, b, t in points], markers,
            f"{name}: share of measurements blocked per day in {', '.join(countries)}"
            f"; remedy observed: {remedy}")
        rows = []
        for d, b, t in points:
            link = {"order": f.order, "intermediary": name, "since": d.isoformat(),
                    "until": d.isoformat(), "scope": "ordered"}
            rows.append((Cell(d.isoformat()),
                         Cell(str(b), measurements_url(**link, verdict="blocked") if b else None,
                              True),
                         Cell(str(t), measurements_url(**link, verdict="total") if t else None,
                              True),
                         Cell(cell(share_pct(b, t)) or "–", None, True)))
        day_table = Table(f"{name} per day in {', '.join(countries)}",
                          (("day", False), ("blocked", True), ("total", True),
                           ("share blocked %", True)), tuple(rows),
                          anchor=f"timeline-{name}")
        story.intermediaries.append(Intermediary(
            name, _s(row["status"]), _s(row["deadline"]), _s(row["monitoring_since"]) or "–",
            _s(row["first_blocked"]) or "–", _s(row["days_late"]) or "–",
            _s(row["share_blocked_pct"]) or "–", chart, day_table, remedy,
            _s(row.get("others")) or "–", _s(row.get("blocked_by_others")) or "0"))
    story.tables.append(report_table("compliance", compliance, f, note=note))
    mirrors = by_domain.records()
    story.tables.append(_mirrors(domains, mirrors, f))
    story.tables.append(report_table("leakage", leakage, f))
    story.tables.append(report_table("spillover", spillover, f))
    def listed(r: dict[str, Value]) -> str | None:
        # the lists leave control vantages out, as the reports do
        return None if r["control"] == "yes" else measurements_url(
            order=f.order, country=_s(r["country"]), **_days(f))
    story.tables.append(table(sources, {"measurements": listed},
                              csv=url("/api/v1/evidence/sources",
                                      {"order": f.order, **days(f), "format": "csv"}),
                              anchor="sources"))
    story.rounds_url = url(f"/orders/{quote(f.order)}/rounds", days(f))
    return story


def _mirrors(domains: Report, per_domain: list[dict[str, Value]], f: Filters) -> Table:
    """Each domain with its added and due dates and, per intermediary, whether
    it is still reachable (the latest conclusive site verdict was ok)."""
    status = {(str(r["domain"]), str(r["intermediary"])): r for r in per_domain}
    intermediaries = sorted({str(r["intermediary"]) for r in per_domain})
    rows = []
    for d in domains.records():
        cells = [Cell(_s(d["site"])), Cell(_s(d["domain"])), Cell(_s(d["kind"])),
                 Cell(_s(d["added"])), Cell(_s(d["due"]))]
        for name in intermediaries:
            r = status.get((str(d["domain"]), name))
            if r is None or r.get("status") is None:
                cells.append(Cell("not measured"))
                continue
            if d["kind"] == "mirror":
                text = "still reachable" if r["mirrors_reachable"] else "blocked"
            else:
                text = _s(r["status"])
            cells.append(Cell(text, measurements_url(
                order=f.order, intermediary=name, domain=_s(d["domain"]), scope="ordered",
                **_days(f))))
        rows.append(tuple(cells))
    return Table("Domains and mirrors", (("site", False), ("domain", False), ("kind", False),
                                         ("added", False), ("due", False),
                                         *((n, False) for n in intermediaries)),
                 tuple(rows), url("/api/v1/evidence/domains", {"order": f.order,
                                                               "format": "csv"}),
                 anchor="mirrors")


# -- the country view --------------------------------------------------------------

def country_shares(effectiveness: Report) -> dict[str, tuple[int, int]]:
    shares: dict[str, tuple[int, int]] = {}
    for row in effectiveness.records():
        country = str(row["country"])
        b, t = shares.get(country, (0, 0))
        shares[country] = (b + int(row["blocked"] or 0), t + int(row["total"] or 0))
    return shares


def resolvers_by_sites(effectiveness: Report, f: Filters) -> Table:
    """One row per resolver, one column per site: blocked of total (share)."""
    grid: dict[tuple[str, str], tuple[int, int]] = {}
    for r in effectiveness.records():
        key = (str(r["resolver"]), str(r["site"]))
        b, t = grid.get(key, (0, 0))
        grid[key] = (b + int(r["blocked"] or 0), t + int(r["total"] or 0))
    resolvers = sorted({k[0] for k in grid})
    sites = sorted({k[1] for k in grid})
    rows = []
    for resolver in resolvers:
        cells = [Cell(resolver)]
        for site in sites:
            if (resolver, site) not in grid:
                cells.append(Cell("–", None, True))
                continue
            b, t = grid[(resolver, site)]
            share = share_pct(b, t)
            cells.append(Cell(f"{b} of {t} ({cell(share)}%)" if share is not None
                              else f"{b} of {t}",
                              measurements_url(order=f.order, country=f.country,
                                               resolver=resolver, site=site, verdict="total",
                                               **_days(f)), True))
        rows.append(tuple(cells))
    return Table(f"Resolvers × sites in {f.country}: blocked of conclusive measurements",
                 (("resolver", False), *((s, True) for s in sites)), tuple(rows),
                 url("/api/v1/reports/effectiveness", {**filter_params(f), "format": "csv"}),
                 anchor="grid")
