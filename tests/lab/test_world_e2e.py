"""End to end over the multi-country lab world: the collector on embedded chDB,
one probe per country in its own network namespace, five rounds on simulated
dates with policy switches between them, then every report figure checked
against the figures the ground truth (tests/lab/truth.py) implies.

One campaign runs for the whole module (about half a minute); each test checks
one report or property of its result.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.lab import truth
from tests.lab.campaign import (
    RoundResult,
    campaign,
    faketime_library,
    report_db,
    started_round,
    stored,
)
from tests.lab.process import missing_programs

pytestmark = pytest.mark.lab

Rows = list[dict[str, Any]]
LAST_DAY = truth.ROUNDS[-1].day.isoformat()
REPORTS = ("effectiveness", "compliance", "leakage", "spillover", "timeline", "probes")
MILAN = "it-milan-2024-cloudflare"


@dataclass(frozen=True)
class Outcome:
    rounds: list[RoundResult]
    reclassified: dict[str, Any]
    reports: dict[str, Rows]          # through the collector's Reports RPC, while it serves
    after_stop: dict[str, Rows]       # the same reports with --db once it stopped
    control_only: Rows                # effectiveness --country <control country>
    stored: dict[str, Any]
    recorded: dict[str, list[str]]
    png: bytes
    html: Path
    seconds: float


@pytest.fixture(scope="module")
def outcome(isolated: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    missing = missing_programs("nsd", "unbound", "kresd", "ip")
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    if faketime_library() is None:
        pytest.skip("libfaketime not installed (Debian package faketime)")
    root = tmp_path_factory.mktemp("world")
    started = time.monotonic()
    with campaign(root) as c:
        c.run_all()
        c.wait_classified()
        reclassified = c.reclassify()
        # --until: "days late" of an intermediary that never blocked counts to the
        # last simulated day, not to the real today.
        reports = c.reports({name: [name, "--until", LAST_DAY] for name in REPORTS}
                            | {"control": ["effectiveness", "--country", truth.CONTROL_COUNTRY],
                               "italy": ["effectiveness", "--country", "Italy", "--until",
                                         LAST_DAY],
                               "milan_domains": ["compliance", "--order", MILAN, "--by",
                                                 "domain", "--until", LAST_DAY]})
        png = root / "timeline.png"
        c.analyst("report", "timeline", "--png", str(png))
        html = Path(c.analyst("report", "html", "--out", str(root / "html")).strip())
        control_only = reports["control"]
        c.stop_collector()
        db = c.data / "db"
        after = {name: report_db(db, name, "--until", LAST_DAY)
                 for name in ("effectiveness", "compliance")}
        yield Outcome(c.rounds, reclassified, reports, after, control_only, stored(db),
                      c.recorded_ids(), png.read_bytes(), html, time.monotonic() - started)


def test_ground_truth_is_consistent() -> None:
    assert truth.consistency_problems() == []


def _rows(rows: Rows, *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {tuple(r[k] for k in keys): r for r in rows}
    assert len(out) == len(rows), f"duplicate rows for {keys}"
    return out


# -- the probes recorded what the world implies, and the collector kept all of it once -------


def test_each_probe_measured_its_assignment_every_round(outcome: Outcome) -> None:
    expected = Counter((e.round.number, e.country.probe) for e in truth.expected_measurements())
    for result in outcome.rounds:
        for probe, observations in result.measurements.items():
            assert len(observations) == expected[(result.round.number, probe)], probe
            assert "0 left in the spool" in result.stderr[probe]
            # Stamped at the round's simulated date (libfaketime), not today.
            days = {o["started_at"][:10] for o in observations}
            assert days == {result.round.day.isoformat()}, (probe, days)


def test_every_recorded_measurement_stored_exactly_once(outcome: Outcome) -> None:
    stored_ids = outcome.stored["ids"]
    assert set(stored_ids) == set(outcome.recorded)
    for probe, recorded in outcome.recorded.items():
        assert len(recorded) == len(set(recorded)), f"{probe} printed an id twice"
        rows = stored_ids[probe]
        assert len(rows) == len(set(rows)), f"{probe}: a measurement stored twice"
        assert sorted(rows) == sorted(recorded), f"{probe}: stored ids differ from recorded"
    total = sum(len(v) for v in outcome.recorded.values())
    assert total == len(truth.expected_measurements())
    # Every stored measurement got exactly one verdict.
    assert outcome.stored["verdicts"] == outcome.stored["verdict_ids"] == total
    assert outcome.reclassified["measurements"] == total


def test_policy_switches_happened_between_rounds(outcome: Outcome) -> None:
    changed = {r.round.number: r.changes for r in outcome.rounds}
    for number in (2, 3, 4, 5):
        for country, operator in truth.policy_changes(number):
            assert any(line.startswith(f"{country} {operator}:") for line in changed[number])


# -- every report figure equals the ground truth's --------------------------------------------


def test_effectiveness_per_country_resolver_site(outcome: Outcome) -> None:
    got = _rows(outcome.reports["effectiveness"], "country", "resolver", "site")
    want = _rows(truth.expected_effectiveness(), "country", "resolver", "site")
    assert got.keys() == want.keys()
    for key, row in want.items():
        assert got[key] == row, key


def test_compliance_date_found_to_the_round(outcome: Outcome) -> None:
    got = _rows(outcome.reports["compliance"], "order", "intermediary")
    want = _rows(truth.expected_compliance(truth.ROUNDS[-1].day), "order", "intermediary")
    assert got.keys() == want.keys()
    for key, row in want.items():
        actual = dict(got[key])
        first = actual.pop("first_blocked")
        actual["first_blocked_round"] = started_round(first) if first else None
        assert actual == row, key
    milan = want[("it-milan-2024-cloudflare", "cloudflare")]
    switch = next(b for b in truth.BLOCKS if b.country == "IT" and b.operator == "cloudflare")
    assert milan["first_blocked_round"] == switch.from_round       # the policy switch
    assert milan["days_late"] == (truth.round_by_number(switch.from_round).day
                                  - dt.date.fromisoformat(str(milan["deadline"]))).days


def test_days_late_only_with_evidence(outcome: Outcome) -> None:
    got = _rows(outcome.reports["compliance"], "order", "intermediary")
    # Quad9 and the AGCOM list were blocked when monitoring began, years and months
    # after their deadlines: no days late is claimed
    for key in (("de-hamburg-2021-quad9", "quad9"), ("agcom-2024-dda-101", "isp")):
        assert got[key]["status"] == "blocked when monitoring began", key
        assert got[key]["monitoring_since"] == truth.ROUNDS[0].day.isoformat()
        assert got[key]["days_late"] is None, key
    # Cloudflare was monitored from before the Milan deadline: its lateness is evidenced
    assert got[(MILAN, "cloudflare")]["status"] == \
        "first seen blocked after 33 days of monitoring"
    assert got[(MILAN, "cloudflare")]["days_late"] == 20


def test_mirror_counted_from_its_own_date(outcome: Outcome) -> None:
    rows = _rows(outcome.reports["milan_domains"], "intermediary", "domain")
    mirror = rows[("cloudflare", "kickasstorrents.cr")]
    order = next(o for o in truth.ORDERS if o.order_id == MILAN)
    assert (mirror["kind"], mirror["added"], mirror["deadline"]) == (
        "mirror", truth.round_by_number(5).day.isoformat(),
        truth.due(order, "kickasstorrents.cr").isoformat())
    # resolving, but not due before 30 days after it was added: not late yet
    assert (mirror["status"], mirror["days_late"], mirror["total_since_deadline"]) == (
        "never blocked", 0, 0)
    assert rows[("cloudflare", "thepiratebay.org")]["days_late"] == 20


def test_country_by_name(outcome: Outcome) -> None:
    italy = [r for r in outcome.reports["effectiveness"] if r["country"] == "IT"]
    assert outcome.reports["italy"] == italy != []


def test_mirrors_still_resolving(outcome: Outcome) -> None:
    got = _rows(outcome.reports["compliance"], "order", "intermediary")
    # Cloudflare never blocks the Milan mirror; the ISP blocks AGCOM's one round late,
    # so its latest observation is blocked.
    assert got[("it-milan-2024-cloudflare", "cloudflare")]["mirrors_resolving"] == 1
    assert got[("agcom-2024-dda-101", "isp")]["mirrors_resolving"] == 0
    for row in truth.expected_compliance(truth.ROUNDS[-1].day):
        assert got[(row["order"], row["intermediary"])]["mirrors_resolving"] == \
            row["mirrors_resolving"]


def test_leakage(outcome: Outcome) -> None:
    got = _rows(outcome.reports["leakage"], "order", "country", "resolver", "site")
    want = _rows(truth.expected_leakage(), "order", "country", "resolver", "site")
    assert got.keys() == want.keys()
    for key, row in want.items():
        actual = dict(got[key])
        actual["last_resolved_round"] = started_round(actual.pop("last_resolved"))
        assert actual == row, key


def test_spillover(outcome: Outcome) -> None:
    got = outcome.reports["spillover"]
    want = truth.expected_spillover()
    assert want, "the ground truth has a spillover (Quad9 in France)"
    assert _rows(got, "order", "country", "resolver", "site") == \
        _rows(want, "order", "country", "resolver", "site")


def test_timeline(outcome: Outcome) -> None:
    assert _rows(outcome.reports["timeline"], "day", "resolver") == \
        _rows(truth.expected_timeline(), "day", "resolver")
    assert outcome.png.startswith(b"\x89PNG\r\n\x1a\n")


def test_probes_and_no_blocked_verdict_on_controls_or_in_the_control_country(
        outcome: Outcome) -> None:
    got = _rows(outcome.reports["probes"], "probe")
    want = _rows(truth.expected_probes(), "probe")
    assert got.keys() == want.keys()
    for key, row in want.items():
        actual = {k: v for k, v in got[key].items() if k != "last_seen"}
        assert actual == row, key
    assert all(r["blocked_controls"] == 0 for r in got.values())
    control = next(c for c in truth.COUNTRIES if c.control)
    assert got[(control.probe,)]["blocked"] == 0
    # Control vantages are the reference, never a row of the effectiveness report.
    assert outcome.control_only == []


def test_direct_db_reports_equal_the_rpc_ones(outcome: Outcome) -> None:
    for name, rows in outcome.after_stop.items():
        assert rows == outcome.reports[name], name


def test_html_report_written(outcome: Outcome) -> None:
    text = outcome.html.read_text()
    assert "<html" in text.lower()
    for order in truth.ORDERS:
        assert order.order_id in text


def test_campaign_runtime(outcome: Outcome) -> None:
    # about 100 s of rounds and reports, plus the collector's 60 s settle time
    # before the last round's verdicts
    assert outcome.seconds < 240, f"campaign took {outcome.seconds:.0f}s"
