"""The HTML report's layers: which countries and paths are blocked and how (the
effectiveness report at each layer side by side), the remedy observed per
intermediary, and the legend that says what the colours and words mean.
Pure: Reports in, HTML text out (html.py writes the file)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field

from blockwatch.analysis.reports import Report, Value

# where a block happened (the site verdict's layer), in path order
LAYER_LEGEND = (
    ("dns", "DNS", "the resolver's answer (sinkhole, NXDOMAIN, REFUSED, EDE, ...)"),
    ("ip", "IP", "the network drops the site's address"),
    ("tcp", "TCP", "the network resets the connection"),
    ("tls", "TLS", "the network interferes with the TLS handshake"),
    ("http", "HTTP", "a 451 or block page: the edge, the server, or the network's page"),
)
PARTY_LEGEND = (
    ("resolver", "the resolver's operator, through its DNS answers"),
    ("network", "the probe's network (its ISP), whatever resolver was asked"),
    ("edge", "a CDN's edge refusing the site in that country (its own headers say so)"),
    ("server", "the site's own server"),
)
_COLOURS = {"dns": "#8fb3e0", "ip": "#e08f8f", "tcp": "#e0b38f", "tls": "#d6c36a",
            "http": "#b38fe0", "": "#e6e6e6"}

STYLE = "\n".join(
    [f".l-{name or 'none'}{{background:{colour}}}" for name, colour in _COLOURS.items()]
    + [".legend span{display:inline-block;padding:2px 8px;margin:2px;border-radius:3px}",
       ".diagram{font-family:monospace;background:#f7f7f7;padding:6px 10px}"])


def _pct(value: Value) -> str:
    return "-" if value is None else f"{value} %"


def _cell(record: Mapping[str, Value] | None, *, who: bool) -> str:
    """One layer's figure for a (country, resolver, site): share and how."""
    if record is None:
        return '<td class="l-none">not measured</td>'
    layer = str(record["layer"] or "")
    how = ""
    if record["method"]:
        how = f" {layer}/{record['method']}"
        if who and record["blocked_by"]:
            how += f" by {record['blocked_by']}"
    text = f"{_pct(record['share_blocked_pct'])}{how}"
    return f'<td class="l-{layer or "none"}">{html.escape(text)}</td>'


def _legend() -> str:
    chips = "".join(f'<span class="l-{name}"><b>{label}</b>: {html.escape(text)}</span>'
                    for name, label, text in LAYER_LEGEND)
    chips += '<span class="l-none">grey: not blocked at that layer</span>'
    parties = "".join(f"<li><b>{name}</b>: {html.escape(text)}</li>"
                      for name, text in PARTY_LEGEND)
    return ("<p class='diagram'>resolver (DNS) &rarr; network (IP, TCP) &rarr; TLS &rarr; "
            "server or edge (HTTP)</p>"
            "<p>Each path (resolver &times; transport &times; address family) is followed "
            "layer by layer; the first layer that blocks decides the <b>site</b> verdict. "
            "The <b>DNS</b> column counts the resolver's answers alone, the <b>web</b> "
            "column the probe's follow-ups of them (the pages it got).</p>"
            f"<div class='legend'>{chips}</div><p>Blocked by:</p><ul>{parties}</ul>")


Key = tuple[str, str, str]


def _by_key(report: Report | None) -> dict[Key, dict[str, Value]]:
    if report is None:
        return {}
    return {(str(r["country"]), str(r["resolver"]), str(r["site"])): r
            for r in report.records()}


def _matrix(layers: Mapping[str, Report]) -> str:
    by_layer = {name: _by_key(layers.get(name)) for name in ("dns", "web", "site")}
    keys = sorted(set().union(*(set(v) for v in by_layer.values())))
    if not keys:
        return '<p class="empty">no rows</p>'
    head = "".join(f"<th>{t}</th>" for t in ("country", "resolver", "site", "DNS layer",
                                              "web layer", "site (first layer that blocks)"))
    rows = []
    for key in keys:
        cells = "".join(f"<td>{html.escape(k)}</td>" for k in key)
        cells += _cell(by_layer["dns"].get(key), who=False)
        cells += _cell(by_layer["web"].get(key), who=True)
        cells += _cell(by_layer["site"].get(key), who=True)
        rows.append(f"<tr>{cells}</tr>")
    return (f"<table class='layers'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


@dataclass
class _Remedy:
    sites: set[str] = field(default_factory=set)
    blocked: int = 0


def remedies(layers: Mapping[str, Report]) -> list[tuple[str, str, str, int, int]]:
    """Per country and resolver, each way its sites were blocked at the site
    layer: (country, resolver, remedy, sites, blocked measurements). A remedy
    reads "edge http-451 (cloudflare), DNS unchanged" when the resolver's DNS
    answers blocked none of those sites."""
    site = layers.get("site")
    if site is None:
        return []
    dns = _by_key(layers.get("dns"))
    found: dict[tuple[str, str, str], _Remedy] = {}
    for r in site.records():
        if not r["blocked"]:
            continue
        key = (str(r["country"]), str(r["resolver"]), str(r["site"]))
        party, _, operator = str(r["blocked_by"] or "").partition(" ")
        remedy = f"{party} {r['method']}" + (f" ({operator})" if operator else "")
        if party != "resolver" and not (dns.get(key) or {}).get("blocked"):
            remedy += ", DNS unchanged"
        entry = found.setdefault((key[0], key[1], remedy), _Remedy())
        entry.sites.add(key[2])
        entry.blocked += int(r["blocked"] or 0)
    return [(c, res, remedy, len(e.sites), e.blocked)
            for (c, res, remedy), e in sorted(found.items())]


def _remedy_table(layers: Mapping[str, Report]) -> str:
    found = remedies(layers)
    if not found:
        return '<p class="empty">no blocks seen</p>'
    head = "".join(f"<th>{t}</th>" for t in ("country", "resolver", "remedy observed",
                                              "sites", "blocked"))
    rows = "".join(
        "<tr>" + "".join(("<td class='n'>" if isinstance(v, int) else "<td>")
                         + f"{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in found)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def layers_html(layers: Mapping[str, Report]) -> str:
    """The layers section: legend, the per-layer matrix, remedies."""
    return ("<h2>Blocking by layer: which countries and paths are blocked, and how</h2>"
            + _legend() + _matrix(layers)
            + "<h2>Remedy observed per intermediary</h2>"
              "<p>How each resolver path's sites were blocked at the site layer (the "
              "dominant way per site), and by whose hand.</p>" + _remedy_table(layers))
