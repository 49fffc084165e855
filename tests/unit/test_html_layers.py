"""The HTML report's layers section: remedies per intermediary and the
side-by-side cells, from effectiveness reports at each layer (pure)."""

from __future__ import annotations

from blockwatch.analysis.htmllayers import layers_html, remedies
from blockwatch.analysis.reports import Column, Report, Value

_KEYS = ("country", "resolver", "site", "blocked", "total", "share_blocked_pct", "layer",
         "method", "blocked_by")


def _report(*rows: tuple[Value, ...]) -> Report:
    return Report("effectiveness", "t", tuple(Column(k) for k in _KEYS), rows)


SITE = _report(("IT", "cloudflare", "kat", 2, 3, 66.7, "http", "http-451", "edge cloudflare"),
               ("IT", "cloudflare", "tpb", 1, 1, 100.0, "http", "http-451", "edge cloudflare"),
               ("IT", "isp", "kat", 1, 1, 100.0, "ip", "ip-drop", "network AS3269"),
               ("IT", "isp", "tpb", 1, 1, 100.0, "dns", "sinkhole", "resolver isp"),
               ("IT", "quad9", "tpb", 1, 2, 50.0, "http", "http-451", "edge cloudflare"),
               ("IT", "google", "tpb", 0, 1, 0.0, None, None, None))
DNS = _report(("IT", "cloudflare", "kat", 0, 3, 0.0, None, None, None),
              ("IT", "cloudflare", "tpb", 0, 1, 0.0, None, None, None),
              ("IT", "isp", "kat", 0, 1, 0.0, None, None, None),
              ("IT", "isp", "tpb", 1, 1, 100.0, "dns", "sinkhole", "resolver isp"),
              ("IT", "quad9", "tpb", 1, 2, 50.0, "dns", "nxdomain", "resolver quad9"))


def test_remedies_say_whose_hand_and_whether_dns_was_unchanged() -> None:
    assert remedies({"site": SITE, "dns": DNS}) == [
        ("IT", "cloudflare", "edge http-451 (cloudflare), DNS unchanged", 2, 3),
        ("IT", "isp", "network ip-drop (AS3269), DNS unchanged", 1, 1),
        ("IT", "isp", "resolver sinkhole (isp)", 1, 1),
        # its DNS blocked the site too: not "DNS unchanged"
        ("IT", "quad9", "edge http-451 (cloudflare)", 1, 1),
    ]
    assert remedies({"dns": DNS}) == []


def test_layers_section_colours_each_layer_and_escapes() -> None:
    page = layers_html({"site": SITE, "dns": DNS})
    assert ('<td class="l-none">0.0 %</td><td class="l-none">not measured</td>'
            '<td class="l-http">66.7 % http/http-451 by edge cloudflare</td>') in page
    assert "&rarr; TLS &rarr;" in page and "<b>TLS</b>:" in page
    hostile = _report(("IT", "<script>", "kat", 1, 1, 100.0, "dns", "<b>", "resolver <x>"))
    page = layers_html({"site": hostile, "dns": hostile})
    assert "<script>" not in page and "&lt;script&gt;" in page
