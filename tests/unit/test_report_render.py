"""Report rendering (pure): keys are the titles in snake_case, and table, JSON
and CSV carry the same values; the world map ships with the package."""

from __future__ import annotations

import csv
import io
import json

from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.html import country_shares
from blockwatch.analysis.render import to_csv, to_json, to_table
from blockwatch.analysis.reports import REPORTS, Column, Report, share_pct, snake
from blockwatch.analysis.worldmap import map_svg, world_shapes

REPORT = Report("effectiveness", "t", (Column("country"), Column("blocked", "int"),
                                       Column("share blocked %", "pct"), Column("method")),
                (("IT", 2, 33.3, "ede"), ("DE", 0, None, None)))


def test_keys_are_snake_case_titles() -> None:
    assert snake("share blocked %") == "share_blocked_pct"
    assert snake("blocked since deadline") == "blocked_since_deadline"
    assert REPORT.keys == ("country", "blocked", "share_blocked_pct", "method")


def test_formats_carry_identical_values() -> None:
    records = json.loads(to_json(REPORT))
    assert records == [{"country": "IT", "blocked": 2, "share_blocked_pct": 33.3,
                        "method": "ede"},
                       {"country": "DE", "blocked": 0, "share_blocked_pct": None,
                        "method": None}]
    rows = list(csv.DictReader(io.StringIO(to_csv(REPORT))))
    assert rows[0] == {"country": "IT", "blocked": "2", "share_blocked_pct": "33.3",
                       "method": "ede"}
    table = to_table(REPORT)
    assert "33.3" in table and "share blocked %" in table


def test_share_is_rounded_once_and_none_without_data() -> None:
    assert share_pct(1, 3) == 33.3 and share_pct(0, 0) is None and share_pct(2, 2) == 100.0


def test_every_report_is_registered() -> None:
    assert set(REPORTS) == {"effectiveness", "compliance", "leakage", "spillover", "timeline",
                            "probes", "mirrors"}


def test_world_map_has_countries_by_alpha2_and_colours_data() -> None:
    codes = {code for code, _, _ in world_shapes()}
    assert {"IT", "DE", "US", "BR", "FR", "NO"} <= codes and len(codes) > 170
    svg = map_svg(country_shares(Report("effectiveness", "t", (
        Column("country"), Column("blocked", "int"), Column("total", "int")),
        (("IT", 3, 4), ("IT", 1, 4)))))
    assert "Italy: 50.0% blocked (4/8)" in svg and "Germany: no measurements" in svg
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_packaged_fingerprints_keep_names_sources_and_scope() -> None:
    fps = load_fingerprints()
    by_name = {f.name: f for f in fps.fingerprints}
    assert len(by_name) >= 220
    assert by_name["cl.dns_nat_it_agcom_block"].pattern == "83.224.65.74"
    assert by_name["cl.dns_nat_it_agcom_block"].countries == ("IT",)
    assert by_name["ooni.zz_4"].countries == ()          # ZZ: anywhere
    assert {b.name for b in fps.behaviours} >= {"google.refused_ede16", "quad9.nxdomain_no_ra",
                                                "cloudflare_family.zero_ede17"}
