"""`blockwatch report html` tells the same story as the web view's order
pages, in one self-contained file: per intermediary the status the CLI's
compliance JSON gives, a timeline with the deadline marked, and nothing that
points to a server or the network."""

from __future__ import annotations

import re
from pathlib import Path

from tests.web.conftest import WebServer


def test_static_report_holds_every_order_story(
        static_report: Path, server: WebServer,
        cli_json: dict[tuple[str, str], list[dict[str, object]]]) -> None:
    text = static_report.read_text("utf-8")
    for row in cli_json[("compliance", "")]:
        story = text.split(f'id="order-{row["order"]}"', 1)[1].split("<article", 1)[0]
        assert f'<h2 class="verdict">{row["intermediary"]}: {row["status"]}</h2>' in story
        assert "marker-deadline" in story
    # self-contained: no link to the web view's routes, nothing fetched
    assert not re.search(r'(href|src)="(/|https?:)', text)
    assert "<script" not in text
