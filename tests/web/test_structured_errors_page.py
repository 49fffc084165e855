"""The measurement page and its JSON record show a resolver's structured DNS
error (draft-ietf-dnsop-structured-dns-error in the EDE EXTRA-TEXT): "Blocked by
X under Y - contact Z" beside the verbatim text; a malformed text verbatim only,
with a note, on a page that still renders. Real chDB, the app in process."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.remote import from_message
from blockwatch.analysis.reports import Report
from blockwatch.analysis.storage import reclassify
from blockwatch.analysis.webview.app import create_app
from blockwatch.analysis.webview.evidence import evidence, structured_error
from blockwatch.analysis.webview.source import LocalSource
from blockwatch.collector.orders import parse_orders
from blockwatch.collector.registry import Registry
from blockwatch.collector.reports_servicer import to_message
from tests.integration.analysis_world import (
    D1,
    IT1,
    KAT,
    ORDERS_YAML,
    TPB,
    Row,
    create_schema,
    store_orders,
)
from tests.integration.collector_harness import chdb_dsn

STRUCTURED = json.dumps({"c": ["mailto:abuse@piracyshield.example"],
                         "j": "AGCOM order 49/24/CONS", "s": 1, "o": "Piracy Shield",
                         "l": "it", "x-unknown": "ignored"})
MALFORMED = '{"o": "Piracy Shield", "j": "AGCOM'
HOSTILE = json.dumps({"o": "<script>alert(1)</script>", "j": "<b>law</b>"})
PLAIN = "blocked by court order"
REPORTS: dict[str, Report] = {}   # each measurement's evidence, as the source builds it


def _pages(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
           ) -> dict[str, tuple[httpx.Response, httpx.Response]]:
    db = create_schema(chdb_dsn(tmp_path_factory), f"sde{time.monotonic_ns()}")
    store_orders(db, parse_orders(ORDERS_YAML, source="w.yaml"))
    texts = {"structured": STRUCTURED, "malformed": MALFORMED, "hostile": HOSTILE,
             "plain": PLAIN}
    values = {name: Row(IT1, D1, "cloudflare", KAT if i % 2 else TPB, answers=(),
                        ede=((16, text),), minute=i).values()
              for i, (name, text) in enumerate(texts.items())}
    columns = list(values["plain"])
    db.insert("measurements", columns, [[v[c] for c in columns] for v in values.values()])
    reclassify(db, load_fingerprints())
    REPORTS.update({name: evidence("measurement", {"id": v["measurement_id"]}, db.rows)
                    for name, v in values.items()})
    reg = Registry(tmp_path / "registry.db")
    analyst = reg.add("analyst", "ana")
    reg.close()
    app = create_app(LocalSource(db, tmp_path / "registry.db"))

    async def fetch() -> dict[str, tuple[httpx.Response, httpx.Response]]:
        auth = {"Authorization": f"Bearer {analyst}"}
        out = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://web") as web:
            for name, v in values.items():
                mid = v["measurement_id"]
                out[name] = (await web.get(f"/measurements/{mid}", headers=auth),
                             await web.get("/api/v1/evidence/measurement",
                                           params={"id": mid}, headers=auth))
        return out
    return asyncio.run(fetch())


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, tuple[httpx.Response, httpx.Response]]:
    return _pages(tmp_path_factory, tmp_path_factory.mktemp("sde"))


def _field(record: dict[str, object], name: str) -> object:
    rows = record["rows"]
    assert isinstance(rows, list)
    return next(r["value"] for r in rows if r["field"] == name)


def test_structured_text_shows_who_blocked_under_what_and_whom_to_contact(
        pages: dict[str, tuple[httpx.Response, httpx.Response]]) -> None:
    page, api = pages["structured"]
    assert page.status_code == 200
    assert ("Blocked by Piracy Shield under AGCOM order 49/24/CONS — contact "
            "mailto:abuse@piracyshield.example") in page.text
    assert "sub-error" in page.text and ">it<" in page.text
    # the verbatim text, as received (escaped for HTML, so its quotes show as &#34;)
    assert STRUCTURED.replace('"', "&#34;") in page.text
    assert "did not parse" not in page.text
    record = api.json()
    assert record["structured_error"] == {
        "organization": "Piracy Shield", "justification": "AGCOM order 49/24/CONS",
        "suberror": 1, "contact": ["mailto:abuse@piracyshield.example"], "language": "it",
        "summary": "blocked by Piracy Shield under AGCOM order 49/24/CONS",
        "text": STRUCTURED}
    assert _field(record, "ede texts") == STRUCTURED
    assert _field(record, "verdict") == "blocked"   # classification unaffected


def test_malformed_text_is_shown_verbatim_with_a_note_and_the_page_renders(
        pages: dict[str, tuple[httpx.Response, httpx.Response]]) -> None:
    page, api = pages["malformed"]
    assert page.status_code == 200
    assert MALFORMED.replace('"', "&#34;") in page.text
    assert "did not parse as structured error data" in page.text
    assert "Blocked by" not in page.text
    record = api.json()
    assert api.status_code == 200 and record["structured_error"] is None
    assert str(_field(record, "structured error note")).startswith("not JSON")
    assert _field(record, "verdict") == "blocked"


def test_html_in_the_text_is_escaped(
        pages: dict[str, tuple[httpx.Response, httpx.Response]]) -> None:
    page, api = pages["hostile"]
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "<b>law</b>" not in page.text
    assert "Blocked by &lt;script&gt;alert(1)&lt;/script&gt; under &lt;b&gt;law&lt;/b&gt;" \
        in page.text
    assert api.json()["structured_error"]["organization"] == "<script>alert(1)</script>"


def test_plain_text_is_shown_as_before_without_a_note(
        pages: dict[str, tuple[httpx.Response, httpx.Response]]) -> None:
    page, api = pages["plain"]
    assert page.status_code == 200 and PLAIN in page.text
    assert "Blocked by" not in page.text and "did not parse" not in page.text
    assert api.json()["structured_error"] is None


def test_the_evidence_rpc_carries_the_fields_to_a_remote_web_view(
        pages: dict[str, tuple[httpx.Response, httpx.Response]]) -> None:
    # a web view on a collector gets the Report through the Evidence RPC's messages
    for name, (_, api) in pages.items():
        carried = from_message(to_message(REPORTS[name]))
        assert carried == REPORTS[name], name
        assert structured_error(carried) == api.json()["structured_error"], name
