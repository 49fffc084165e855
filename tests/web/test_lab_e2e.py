"""The web view on the lab world: a real campaign (probes in four countries,
faked dates, Cloudflare's edge answering 451 in Italy from round 3) stored by
a real collector, and `blockwatch web --collector` reading it through the
Reports RPC while the collector serves. In chromium: the Milan order's story
equals the CLI's compliance JSON, the deadline is marked, and a measurement of
1.1.1.1's normal answer in Italy shows the edge's 451 in its web follow-up."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.lab import truth
from tests.lab.campaign import campaign, faketime_library
from tests.lab.process import missing_programs
from tests.web.conftest import BLOCKWATCH, env, free_port
from tests.web.test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.lab
MILAN = "it-milan-2024-cloudflare"
LAST_DAY = truth.ROUNDS[-1].day.isoformat()


def test_web_view_on_the_lab_world(isolated: None, tmp_path: Path) -> None:
    missing = missing_programs("nsd", "unbound", "kresd", "ip", "nginx", "nft")
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    if faketime_library() is None or not Path(CHROMIUM).exists():
        pytest.skip("libfaketime or chromium not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    shots = Path(os.environ.get("BLOCKWATCH_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with campaign(tmp_path / "lab") as c:
        c.run_all()
        c.wait_classified()
        expected = {r["intermediary"]: r for r in
                    c.report("compliance", "--order", MILAN, "--until", LAST_DAY)}
        token = c.analyst_token.read_text().strip()
        with _web("--collector", f"unix:{c.socket}") as url:
            auth = {"Authorization": f"Bearer {token}"}
            # 1.1.1.1's answers in Italy from the edge's round on: normal DNS
            # (the DNS layer), while the site is blocked at Cloudflare's edge
            day3 = truth.ROUNDS[2].day.isoformat()
            listed = httpx.get(f"{url}/api/v1/evidence/measurements", headers=auth, timeout=60,
                               params={"order": MILAN, "country": "IT", "layer": "dns",
                                       "resolver": "cloudflare", "domain": "thepiratebay.org",
                                       "verdict": "ok", "since": day3}).json()["rows"]
            assert listed, "no normal cloudflare answer in IT after round 3"
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900},
                                        java_script_enabled=False)
                page.set_default_timeout(120_000)
                page.goto(f"{url}/orders/{MILAN}?until={LAST_DAY}")
                page.fill("#token", token)
                page.click("button[type=submit]")
                assert page.locator("h1").inner_text() == f"Order {MILAN}"
                for name, row in expected.items():
                    section = page.locator(f"#intermediary-{name}")
                    assert section.locator("h2.verdict").inner_text() == \
                        f"{name}: {row['status']}"
                    assert section.locator("svg.timeline line.marker-deadline").count() == 1
                page.screenshot(path=str(shots / "lab-order.png"), full_page=True)
                page.goto(f"{url}/measurements/{listed[0]['measurement']}")
                web = page.locator("#web table tbody tr")
                assert web.count() >= 1
                status = page.locator("#web table thead th").all_inner_texts().index("status")
                statuses = [web.nth(i).locator("td").nth(status).inner_text()
                            for i in range(web.count())]
                assert "451" in statuses, statuses
                # the site verdict: blocked at the edge, by Cloudflare's hand
                site = dict(zip(page.locator("#site dt").all_inner_texts(),
                                page.locator("#site dd").all_inner_texts(), strict=True))
                assert (site["site verdict"], site["method"], site["by"],
                        site["operator"], site["dns verdict"]) == (
                    "blocked", "http-451", "edge", "cloudflare", "ok"), site
                page.screenshot(path=str(shots / "lab-measurement.png"), full_page=True)
                browser.close()


class _web:
    """`blockwatch web` as a subprocess for the length of a with-block."""

    def __init__(self, *args: str) -> None:
        self.args = args

    def __enter__(self) -> str:
        port = free_port()
        self.proc = subprocess.Popen([BLOCKWATCH, "web", "--port", str(port), *self.args],
                                     env=env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
            try:
                httpx.get(url + "/login", timeout=2)
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            else:
                return url

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
