"""What reports say about the data behind them (blockwatch.analysis.status)."""

from __future__ import annotations

import datetime as dt

import pytest

from blockwatch.analysis.status import Status, WaitTimeout, wait_classified

T0 = dt.datetime(2024, 8, 13, 10, 0, 30, tzinfo=dt.UTC)


def test_empty_database_says_no_measurements_yet() -> None:
    assert Status().note().startswith("no measurements yet")


def test_pending_note_counts_and_dates() -> None:
    note = Status(10, 7, 3, T0).note(T0 + dt.timedelta(seconds=42))
    assert note.startswith("3 measurements await classification since "
                           "2024-08-13T10:00:30Z (42 s ago): figures are partial")
    assert Status(10, 9, 1, T0).note(T0).startswith("1 measurement awaits")
    assert Status(10, 10, 0).note() == ""


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_returns_once_nothing_is_pending() -> None:
    clock = _Clock()
    states = iter([Status(5, 2, 3, T0), Status(5, 4, 1, T0), Status(5, 5, 0)])
    got = wait_classified(lambda: next(states), 10, clock=clock, sleep=clock.sleep)
    assert got.pending == 0 and clock.now == 1.0


def test_wait_gives_up_with_the_count_left() -> None:
    clock = _Clock()
    with pytest.raises(WaitTimeout, match="gave up after 2 s: 3 measurements still await"):
        wait_classified(lambda: Status(5, 2, 3, T0), 2, clock=clock, sleep=clock.sleep)
    assert clock.now == 2.0
