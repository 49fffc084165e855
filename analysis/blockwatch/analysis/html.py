"""The self-contained HTML report: every table, the timeline chart (inline PNG)
and the world map (inline SVG) in one file with no external references."""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Mapping
from pathlib import Path

from blockwatch.analysis.charts import timeline_png
from blockwatch.analysis.htmllayers import STYLE as LAYERS_STYLE
from blockwatch.analysis.htmllayers import layers_html
from blockwatch.analysis.outputs import make_dir, write_file
from blockwatch.analysis.render import cell
from blockwatch.analysis.reports import Report, Value
from blockwatch.analysis.worldmap import map_svg

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px}th{background:#f3f3f3}
td.n{text-align:right}svg{max-width:100%;height:auto;border:1px solid #ccc}
.empty{color:#777}.note{background:#fff4d6;padding:4px 8px}"""


def country_shares(effectiveness: Report) -> dict[str, tuple[int, int]]:
    """(blocked, total) per country, summed over resolvers and sites."""
    shares: dict[str, tuple[int, int]] = {}
    for row in effectiveness.records():
        country = str(row["country"])
        blocked, total = shares.get(country, (0, 0))
        shares[country] = (blocked + int(row["blocked"] or 0), total + int(row["total"] or 0))
    return shares


def _table(report: Report) -> str:
    if not report.rows:
        return f'<h2>{html.escape(report.title)}</h2><p class="empty">no rows</p>'
    head = "".join(f"<th>{html.escape(c.title)}</th>" for c in report.columns)
    body = []
    for row in report.rows:
        cells = "".join(
            f'<td class="{"n" if c.kind in ("int", "pct") else ""}">{html.escape(cell(v))}</td>'
            for c, v in zip(report.columns, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    return (f"<h2>{html.escape(report.title)}</h2><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _mirrors(report: Report) -> str:
    """Mirror candidates per order: one row per candidate, its reachability
    through each of the order's intermediaries in each country on one line."""
    title = "<h2>Mirror candidates per order</h2>"
    if not report.rows:
        return title + '<p class="empty">no candidates</p>'
    orders: dict[str, dict[str, list[Value]]] = {}
    reach: dict[tuple[str, str], list[str]] = {}
    for r in report.records():
        order, name = str(r["order"]), str(r["candidate"])
        orders.setdefault(order, {})[name] = [r["site"], name, r["sources"], r["evidence"],
                                              cell(r["first_seen"])]
        reach.setdefault((order, name), []).append(
            f"{r['country']}/{r['intermediary']}: {r['reachable']}")
    head = "".join(f"<th>{h}</th>" for h in ("site", "candidate", "sources", "evidence",
                                               "first seen", "reachable"))
    parts = [title]
    for order, candidates in orders.items():
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>"
                             for v in (*values, "; ".join(reach[order, name]))) + "</tr>"
            for name, values in candidates.items())
        parts.append(f"<h3>order {html.escape(order)}: {len(candidates)} candidates</h3>"
                     f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return "".join(parts)


def write_html(reports: Mapping[str, Report], out_dir: Path, *, subtitle: str = "",
               note: str = "", stories: str = "",
               layers: Mapping[str, Report] | None = None) -> Path:
    """Write out_dir/index.html (and timeline.png beside it); returns the HTML path.
    `note`: what the data's status says (pending classification, no data);
    `stories`: the orders' stories as the web view renders them (webview.story);
    `layers`: the effectiveness report per layer (dns, web, site), shown side by
    side with the remedies and a legend (htmllayers.py)."""
    make_dir(out_dir)
    style = _STYLE + "\n" + LAYERS_STYLE
    if stories:
        from blockwatch.analysis.webview.story import stylesheet

        style = stylesheet() + "\n" + style
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             "<title>blockwatch report</title>", f"<style>{style}</style></head><body>",
             "<h1>blockwatch report</h1>",
             f"<p>{html.escape(subtitle)} generated "
             f"{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}</p>"]
    if note:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    if stories:
        parts.append(f"<section class='stories'>{stories}</section>")
    if "effectiveness" in reports:
        parts.append("<h2>Share blocked by country</h2>")
        parts.append(map_svg(country_shares(reports["effectiveness"]),
                             "share blocked by country"))
    if layers:
        parts.append(layers_html(layers))
    if "timeline" in reports:
        png = timeline_png(reports["timeline"])
        write_file(out_dir / "timeline.png", png, "out")
        parts.append("<h2>Timeline</h2><img alt='share blocked per day and resolver' "
                     f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    parts += [_mirrors(r) if r.name == "mirrors" else _table(r) for r in reports.values()]
    parts.append("</body></html>")
    path = out_dir / "index.html"
    write_file(path, "\n".join(parts).encode("utf-8"), "out")
    return path
