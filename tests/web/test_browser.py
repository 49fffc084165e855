"""An analyst in a real browser (Debian's chromium through Playwright): logs in,
goes from the orders overview to the order page, to a count, to one
measurement; at each step what they see is checked against the CLI's JSON on
the same database. Screenshots land in BLOCKWATCH_SCREENSHOTS (or tmp)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.conftest import UNTIL, WebServer

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_analyst_follows_an_order_to_one_measurement(  # noqa: PLR0915 - one walk, step by step
        server: WebServer, browser: object, tmp_path: Path,
        cli_json: dict[tuple[str, str], list[dict[str, object]]]) -> None:
    shots = Path(os.environ.get("BLOCKWATCH_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900},  # type: ignore[attr-defined]
                            java_script_enabled=False)    # tables work without JavaScript
    page.set_default_timeout(60_000)

    # 1. every page asks for a token first; the login form exchanges it for a session
    page.goto(f"{server.url}/?until={UNTIL}")
    assert page.url.startswith(f"{server.url}/login")
    page.fill("#token", server.analyst)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Orders"
    page.screenshot(path=str(shots / "1-overview.png"), full_page=True)

    # the overview shows each intermediary's status as the CLI's compliance says
    expected = {(r["order"], r["intermediary"]): r for r in cli_json[("compliance", "")]}
    for (order, intermediary), row in expected.items():
        card = page.locator("article.order-card", has=page.locator(f"h2 >> text={order}"))
        line = card.locator("tr", has=page.locator(f"td:text-is('{intermediary}')"))
        assert line.locator("td").nth(1).inner_text() == row["status"]

    # 2. the order page: per intermediary a timeline with the deadline marked
    page.click("article.order-card h2 >> text=it-2024-kat")
    assert page.locator("h1").inner_text() == "Order it-2024-kat"
    page.screenshot(path=str(shots / "2-order.png"), full_page=True)
    order_rows = {r["intermediary"]: r for r in cli_json[("compliance", "--order it-2024-kat")]}
    for name, row in order_rows.items():
        section = page.locator(f"#intermediary-{name}")
        assert section.locator("h2.verdict").inner_text() == f"{name}: {row['status']}"
        chart = section.locator("svg.timeline")
        assert chart.locator("line.marker-deadline").count() == 1
        assert "deadline 2024-08-14" in (chart.locator("desc").text_content() or "")
        assert section.locator("dl.facts dd").nth(0).inner_text() == row["deadline"]
        share = row["share_blocked_pct"]
        assert section.locator("dl.facts dd").nth(4).inner_text() == \
            ("–" if share is None else f"{share} %")
    # the leakage table equals the CLI's leakage JSON
    leak = page.locator("#leakage table tbody tr")
    cli_leak = cli_json[("leakage", "--order it-2024-kat")]
    assert leak.count() == len(cli_leak)
    heads = page.locator("#leakage table thead th").all_inner_texts()
    for i, row in enumerate(cli_leak):
        cells = leak.nth(i).locator("td")
        assert cells.nth(heads.index("resolver")).inner_text() == row["resolver"]
        assert int(cells.nth(heads.index("reached")).inner_text()) == row["reached"]
    # every table offers CSV
    for section in ("compliance", "leakage", "spillover", "mirrors", "sources"):
        assert page.locator(f"#{section} .export a", has_text="CSV").count() == 1

    # 3. a count: the ISP's blocked measurements since the deadline
    isp = order_rows["isp"]
    link = page.locator("#compliance table tbody tr", has=page.locator("td:text-is('isp')")) \
        .locator("td a").filter(has_text=re.compile(rf"^{isp['blocked_since_deadline']}$"))
    link.first.click()
    assert page.locator("h1").inner_text() == "Measurements"
    assert page.locator("#total").inner_text() == str(isp["blocked_since_deadline"])
    rows = page.locator("section.table table tbody tr")
    assert rows.count() == isp["blocked_since_deadline"]
    page.screenshot(path=str(shots / "3-count.png"), full_page=True)

    # 4. one measurement: the DNS answer and the rule that fired, with its control
    first = rows.nth(0)
    verdict = first.locator("td").nth(9).inner_text()
    rule = first.locator("td").nth(11).inner_text()
    first.locator("td a").first.click()
    assert page.locator("h1").inner_text().startswith("Measurement ")
    fields = dict(zip(page.locator("#verdict dt").all_inner_texts(),
                      page.locator("#verdict dd").all_inner_texts(), strict=True))
    assert fields["verdict"] == verdict == "blocked"
    assert fields["rule"] == rule
    assert fields["classifier version"] != "–"
    dns = dict(zip(page.locator("#dns dt").all_inner_texts(),
                   page.locator("#dns dd").all_inner_texts(), strict=True))
    assert dns["resolver"] == "isp" and dns["country"] == "IT"
    assert dns["rcode"] != "–" or dns["failure"] != "none"
    page.screenshot(path=str(shots / "4-measurement.png"), full_page=True)

    # 5. the country page: a map with a legend, the control vantage shown as such
    page.goto(f"{server.url}/countries/IT?until={UNTIL}")
    svg = page.locator("svg.map")
    assert "share blocked (%)" in (svg.text_content() or "")
    assert "control vantage" in (svg.text_content() or "")
    assert "control vantage" in (svg.locator("path[data-country=NL] title").text_content() or "")
    page.screenshot(path=str(shots / "5-country.png"), full_page=True)
    page.close()
