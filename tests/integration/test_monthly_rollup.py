"""The monthly rollup (migration 0014) changes no figure: effectiveness and
spillover read it for the whole months of their range and the daily rollup
for the days of the partial months at its edges; every figure equals the
same report from the daily rollup alone, over ranges inside one month,
across months, open at either end and unbounded. And it stays the daily
rollup summed per month after a reclassify from a day inside a month (which
deletes the daily rollup's days from there and writes them again)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest

from blockwatch.analysis import queries
from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.storage import reclassify
from blockwatch.collector.orders import parse_orders
from tests.integration.analysis_world import (
    ORDERS_YAML,
    create_schema,
    store_orders,
    store_rows,
    world_rows,
)
from tests.integration.collector_harness import chdb_dsn

# the world's three days (Aug 13, 15, 16) moved so that its stories fall on
# both sides of the months' ends: Jul 29..Aug 1, Aug 13..16, Aug 30..Sep 2,
# Sep 22..25
SHIFTS = (-15, 0, 17, 40)
D = dt.date

# (since, until): unbounded, open at either end, inside one month, across
# months, whole months only, one day
RANGES = [
    (None, None), (D(2024, 8, 14), None), (None, D(2024, 8, 15)),
    (D(2024, 8, 2), D(2024, 8, 30)), (D(2024, 8, 13), D(2024, 8, 13)),
    (D(2024, 7, 31), D(2024, 9, 1)), (D(2024, 8, 1), D(2024, 9, 30)),
    (D(2024, 7, 1), D(2024, 8, 31)), (D(2024, 8, 16), D(2024, 9, 24)),
    (D(2024, 6, 1), D(2024, 6, 30)),
]

MONTHLY = """SELECT toString(layer), month, probe_country, resolver_name, domain,
    toString(verdict), toString(site_layer), method, toString(party), operator,
    sum(measurements), min(first_at), max(last_at)
FROM layers_sites_monthly GROUP BY ALL ORDER BY ALL"""
DAILY_SUMMED = """SELECT toString(layer), toStartOfMonth(day) AS month, probe_country,
    resolver_name, domain, toString(verdict), toString(site_layer), method, toString(party),
    operator, sum(measurements), min(first_at), max(last_at)
FROM layers_sites_daily GROUP BY ALL ORDER BY ALL"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseDatabase]:
    handle = create_schema(chdb_dsn(tmp_path_factory), f"monthly{time.monotonic_ns()}")
    store_orders(handle, parse_orders(ORDERS_YAML, source="world.yaml"))
    store_rows(handle, [dataclasses.replace(r, day=r.day + dt.timedelta(days=shift))
                        for shift in SHIFTS for r in world_rows()])
    reclassify(handle, load_fingerprints())
    yield handle
    handle.close()


def _figures(db: ClickHouseDatabase, sql: str, filters: Filters) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in db.rows(sql, filters.parameters())]


def _check_reports(db: ClickHouseDatabase) -> int:
    """Every range at every layer, effectiveness and spillover, by country and
    by domain: the same rows as from the daily rollup; returns how many."""
    compared = 0
    for since, until in RANGES:
        for layer in ("dns", "web", "site"):
            for by in ("", "domain"):
                f = Filters(since=since, until=until, layer=layer, by=by)
                for sql, reference in ((queries.EFFECTIVENESS, queries.EFFECTIVENESS_DAILY),
                                       (queries.SPILLOVER, queries.SPILLOVER_DAILY)):
                    got, want = _figures(db, sql, f), _figures(db, reference, f)
                    assert got == want, (since, until, layer, by, sql[:60])
                    compared += len(want)
    return compared


def test_the_world_spans_four_months_in_both_rollups(db: ClickHouseDatabase) -> None:
    months = [r[0] for r in db.rows("SELECT DISTINCT month FROM layers_sites_monthly "
                                    "ORDER BY month")]
    assert months == [D(2024, 7, 1), D(2024, 8, 1), D(2024, 9, 1)]
    assert db.rows(MONTHLY) == db.rows(DAILY_SUMMED)


def test_reports_are_the_same_with_and_without_the_monthly_rollup(
        db: ClickHouseDatabase) -> None:
    assert _check_reports(db) > 100


def test_a_report_inside_a_month_reads_no_monthly_row(db: ClickHouseDatabase) -> None:
    """The split itself: a range within August counts only August's days,
    from the daily rollup, even where August's monthly rows exist."""
    inside = Filters(since=D(2024, 8, 13), until=D(2024, 8, 16))
    want = db.rows("SELECT sum(measurements) FROM layers_sites_daily WHERE layer = 'site' "
                   "AND day BETWEEN '2024-08-13' AND '2024-08-16' "
                   "AND verdict IN ('ok', 'blocked', 'filtered', 'suspect') "
                   "AND domain IN (SELECT domain FROM order_domains FINAL)")[0][0]
    got = sum(int(r[6]) for r in db.rows(queries.EFFECTIVENESS, inside.parameters()))
    assert got == want > 0


@pytest.mark.parametrize("since", [D(2024, 8, 15), D(2024, 9, 1), D(2024, 7, 31)])
def test_reclassify_from_a_day_keeps_the_monthly_rollup_the_daily_summed(
        db: ClickHouseDatabase, since: dt.date) -> None:
    before = db.rows(MONTHLY)
    reclassify(db, load_fingerprints(), since)
    assert db.rows(MONTHLY) == db.rows(DAILY_SUMMED)
    assert db.rows(MONTHLY) == before    # same measurements, same verdicts: nothing twice
    assert _check_reports(db) > 100
