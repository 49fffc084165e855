"""The order page's tables show exactly the CLI's JSON on the same database:
every row and every cell of compliance, leakage and spillover, as the page
prints them (the SQL behind the page is tuned for speed: the numbers must
not move), and each leakage count links to the measurements behind it."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

from blockwatch.analysis.render import cell
from blockwatch.analysis.reports import snake
from tests.web.conftest import UNTIL, WebServer

ORDER = "it-2024-kat"


class _Tables(HTMLParser):
    """Each `<section class="table" id=…>`'s header titles and rows of
    (text, href) cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, tuple[list[str], list[list[tuple[str, str | None]]]]] = {}
        self._section = ""
        self._in: str | None = None
        self._text = ""
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("class") == "table":
            self._section = a.get("id") or ""
            self.tables[self._section] = ([], [])
        elif tag == "tr" and self._section:
            self._row: list[tuple[str, str | None]] = []
        elif tag in ("th", "td") and self._section:
            self._in, self._text, self._href = tag, "", None
        elif tag == "a" and self._in == "td":
            self._href = a.get("href")

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if not self._section:
            return
        heads, rows = self.tables[self._section]
        if tag == "th" and self._in == "th":
            heads.append(self._text.strip())
            self._in = None
        elif tag == "td" and self._in == "td":
            self._row.append((self._text.strip(), self._href))
            self._in = None
        elif tag == "tr" and self._row:
            rows.append(self._row)
            self._row = []
        elif tag == "section":
            self._section = ""


def _page(server: WebServer) -> dict[str, tuple[list[str], list[list[tuple[str, str | None]]]]]:
    with httpx.Client(base_url=server.url, timeout=120,
                      headers={"Authorization": f"Bearer {server.analyst}"}) as web:
        got = web.get(f"/orders/{ORDER}", params={"until": UNTIL})
    assert got.status_code == 200, got.text
    parser = _Tables()
    parser.feed(got.text)
    return parser.tables


def test_order_page_tables_equal_the_cli_json(
        server: WebServer, cli_json: dict[tuple[str, str], list[dict[str, object]]]) -> None:
    tables = _page(server)
    for name in ("compliance", "leakage", "spillover"):
        expected = cli_json[(name, f"--order {ORDER}")]
        heads, rows = tables[name]
        keys = [snake(h) for h in heads]
        shown = [{k: text for k, (text, _) in zip(keys, row, strict=True)} for row in rows]
        want = [{k: cell(v) if v is not None else "–" for k, v in r.items()}  # type: ignore[arg-type]
                for r in expected]
        assert shown == want, name
    # the page is not vacuous: this order leaks (Cloudflare answers in Italy)
    assert cli_json[("leakage", f"--order {ORDER}")]


def test_every_leakage_count_links_to_its_measurements(server: WebServer) -> None:
    heads, rows = _page(server)["leakage"]
    assert rows
    for column in ("reached", "total"):
        i = heads.index(column)
        for row in rows:
            text, href = row[i]
            assert text == "0" or (href and href.startswith("/measurements?")), (column, row)
