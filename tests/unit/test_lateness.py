"""Days late only with evidence (blockwatch.analysis.lateness.judge), case by case."""

from __future__ import annotations

import datetime as dt

from blockwatch.analysis.lateness import Lateness, judge

DEADLINE = dt.date(2024, 8, 14)


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=dt.UTC)


def test_not_measured() -> None:
    assert judge(DEADLINE, None, None, None, dt.date(2024, 9, 1)) == \
        Lateness("not measured", None)


def test_deadline_before_monitoring_and_blocked_at_once_claims_no_days_late() -> None:
    got = judge(dt.date(2021, 6, 1), at("2024-08-01"), at("2024-08-01"), None,
                dt.date(2024, 10, 1))
    assert (got.status, got.days_late) == ("blocked when monitoring began", None)


def test_monitored_from_before_the_deadline_evidences_lateness() -> None:
    got = judge(DEADLINE, at("2024-08-01"), at("2024-09-03"), at("2024-08-20"),
                dt.date(2024, 10, 1))
    assert (got.status, got.days_late) == ("first seen blocked after 33 days of monitoring", 20)


def test_an_unblocked_answer_after_the_deadline_evidences_lateness() -> None:
    got = judge(DEADLINE, at("2024-08-20"), at("2024-09-03"), at("2024-08-20"),
                dt.date(2024, 10, 1))
    assert got.days_late == 20


def test_an_unblocked_answer_only_after_the_first_block_is_no_evidence() -> None:
    got = judge(DEADLINE, at("2024-08-20"), at("2024-08-20"), at("2024-09-03"),
                dt.date(2024, 10, 1))
    assert (got.status, got.days_late) == ("blocked when monitoring began", None)


def test_blocked_by_the_deadline_is_not_late() -> None:
    got = judge(DEADLINE, at("2024-08-01"), at("2024-08-02"), None, dt.date(2024, 10, 1))
    assert (got.status, got.days_late) == ("first seen blocked after 1 day of monitoring", 0)


def test_never_blocked_counts_to_as_of_only_with_an_answer_after_the_deadline() -> None:
    assert judge(DEADLINE, at("2024-08-01"), None, at("2024-08-20"),
                 dt.date(2024, 10, 1)).days_late == 48
    assert judge(DEADLINE, at("2024-08-01"), None, None, dt.date(2024, 10, 1)).days_late is None
    assert judge(DEADLINE, at("2024-08-01"), None, None, dt.date(2024, 8, 10)) == Lateness(
        "never blocked", 0)    # not due yet
