"""The web view's pure parts: parameters validated, the timeline per
intermediary, the chart's markers and gaps, count links that select what the
report counts."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlparse

import pytest

from blockwatch.analysis.errors import UsageError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.reports import Column, Report, Value
from blockwatch.analysis.webview import pages, svg
from blockwatch.analysis.webview.evidence import MAX_LIMIT, Selection, evidence

D = dt.date(2024, 8, 13)


def _days(rows: list[tuple[str, str, int, int]]) -> Report:
    cols = (Column("intermediary"), Column("day", "date"), Column("blocked", "int"),
            Column("total", "int"), Column("blocked by others", "int"))
    return Report("compliance_days", "t", cols, tuple((i, d, b, t, 0) for i, d, b, t in rows))


def test_timeline_per_intermediary_in_day_order() -> None:
    got = pages.per_day(_days([("cloudflare", "2024-08-13", 1, 4),
                               ("cloudflare", "2024-08-14", 2, 2), ("isp", "2024-08-13", 0, 1)]))
    assert got["cloudflare"] == [(D, 1, 4), (D + dt.timedelta(days=1), 2, 2)]
    assert got["isp"] == [(D, 0, 1)]


def test_chart_marks_deadline_and_breaks_at_missing_days() -> None:
    points = [(D + dt.timedelta(days=n), float(10 * n)) for n in (0, 1, 2, 3, 10)]
    chart = svg.timeline_svg(points, [svg.Marker(D + dt.timedelta(days=2), "deadline",
                                                 svg.VERMILLION, "6 3")], "cloudflare")
    assert chart.count('class="marker marker-deadline"') == 1
    assert chart.count("<polyline") == 2   # no line across a gap far longer than usual
    assert "deadline 2024-08-15" in chart and "share blocked (%)" in chart
    weekly = [(D + dt.timedelta(days=7 * n), 0.0) for n in range(4)]
    assert svg.timeline_svg(weekly, [], "weekly rounds").count("<polyline") == 1
    # a deadline years before the data: at the edge, dated, the data not squeezed
    old = svg.timeline_svg(points, [svg.Marker(dt.date(2020, 1, 31), "deadline",
                                               svg.VERMILLION, "6 3")], "isp")
    assert "◂ deadline 2020-01-31" in old
    xs = [float(x) for x in re.findall(r'<circle cx="([0-9.]+)"', old)]
    assert xs[-1] - xs[0] > 300


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": str(MAX_LIMIT + 1)}, "limit"), ({"limit": "-1"}, "limit"),
    ({"verdict": "blocked' OR 1=1"}, "verdict"), ({"scope": "due"}, "scope"),
    ({"order": "../../etc"}, "order"), ({"country": "Atlantis"}, "country"),
    ({"since": "2024-13-45"}, "since"), ({"bogus": "1"}, "parameter"),
    ({"asn": "4294967296"}, "asn")])
def test_selection_refuses_bad_parameters(params: dict[str, str], field: str) -> None:
    with pytest.raises(UsageError) as refused:
        Selection.parse(params)
    assert refused.value.field == field


def test_evidence_refuses_bad_kinds_and_ids_before_any_query() -> None:
    def no_query(sql: str, parameters: dict[str, object]) -> list[tuple[object, ...]]:
        raise AssertionError("queried")

    for kind, params in (("nope", {}), ("measurement", {"id": "1; DROP TABLE verdicts"}),
                         ("web", {"id": ""}), ("sources", {}),
                         ("orders", {"order": "x", "extra": "y"})):
        with pytest.raises(UsageError):
            evidence(kind, params, no_query)


def test_count_links_select_what_the_report_counts() -> None:
    f = Filters(order="it-2024-kat", until=dt.date(2024, 8, 20))
    links = pages.count_links("compliance", f)
    row: dict[str, Value] = {"order": "it-2024-kat", "intermediary": "isp", "asn": None,
                             "domain": None}
    query = parse_qs(urlparse(links["blocked_since_deadline"](row) or "").query)
    assert query == {"order": ["it-2024-kat"], "intermediary": ["isp"], "verdict": ["blocked"],
                     "scope": ["due"], "until": ["2024-08-20"]}
    others = parse_qs(urlparse(links["blocked_by_others"](row) or "").query)
    assert others["verdict"] == ["others"] and others["intermediary"] == ["isp"]
    spill = pages.count_links("spillover", f)["total"](
        {"order": "it-2024-kat", "country": "DE", "resolver": "quad9", "site": "tpb",
         "asn": 0})
    assert parse_qs(urlparse(spill or "").query)["scope"] == ["outside"]
    # every link parses back into a valid selection
    Selection.parse({k: v[0] for k, v in query.items()})
    with pytest.raises(UsageError, match="needs its order"):
        Selection.parse({"intermediary": "isp"})
