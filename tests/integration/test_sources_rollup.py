"""The order page's "where the numbers come from" (evidence kind `sources`)
reads its own small rollup, sources_daily (migration 0013), filled by a view
from the site verdicts: its figures equal the site verdicts themselves and
the layered rollup's site layer the page read before, on the hand-built
world, and again after a reclassify (which deletes the rollups' days and
writes the site verdicts again: nothing counted twice)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.reports import iso_time
from blockwatch.analysis.storage import reclassify
from blockwatch.analysis.webview.evidence import evidence
from tests.integration.analysis_world import build_world
from tests.integration.collector_harness import chdb_dsn

_DOMAINS = "(SELECT domain FROM order_domains FINAL WHERE order_id = {order:String})"
# the stored site verdicts themselves (one per measurement), per country
_FROM_VERDICTS = """SELECT probe_country, max(probe_control),
    arrayStringConcat(arrayMap(x -> toString(x), arraySort(groupUniqArray(probe_asn))), ' '),
    countIf(NOT probe_control), count(), uniqExact(toDate(started_at)),
    min(started_at), max(started_at)
FROM site_verdicts FINAL
WHERE purpose = 'target' AND domain IN """ + _DOMAINS + """
GROUP BY probe_country ORDER BY probe_country"""
# what the order page read before 0013: layers_daily's site layer
_FROM_LAYERS = """SELECT probe_country, max(probe_control),
    arrayStringConcat(arrayMap(x -> toString(x), arraySort(groupUniqArray(probe_asn))), ' '),
    sumIf(measurements, NOT probe_control), sum(measurements), uniqExact(day),
    min(first_at), max(last_at)
FROM layers_daily
WHERE layer = 'site' AND purpose = 'target' AND domain IN """ + _DOMAINS + """
GROUP BY probe_country ORDER BY probe_country"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    handle = build_world(chdb_dsn(tmp_path_factory), f"sources{time.monotonic_ns()}")
    reclassify(handle, load_fingerprints())
    return handle


def _check(db: Any) -> int:
    orders = [str(r[0]) for r in db.rows("SELECT DISTINCT order_id FROM orders FINAL")]
    assert orders
    shown = 0
    for order in orders:
        got = evidence("sources", {"order": order}, db.rows)
        rows: list[tuple[Any, ...]] = [
            (c, ctl == "yes", asns, n, all_n, days) for c, ctl, asns, n, all_n, days, *_
            in got.rows]
        for sql in (_FROM_VERDICTS, _FROM_LAYERS):
            want = [(str(r[0]), bool(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]))
                    for r in db.rows(sql, {"order": order})]
            assert rows == want, (order, sql[:40])
        # first and last measured: the site verdicts' own times, as the page prints them
        times = {str(r[0]): (r[6], r[7]) for r in got.rows}
        assert times == {str(r[0]): (iso_time(r[6]), iso_time(r[7]))
                         for r in db.rows(_FROM_VERDICTS, {"order": order})}, order
        shown += sum(int(r[3]) for r in rows)
    return shown


def test_sources_equal_the_site_verdicts_and_the_layered_rollup(db: Any) -> None:
    assert _check(db) > 0


def test_sources_survive_a_reclassify_without_counting_twice(db: Any) -> None:
    before = _check(db)
    reclassify(db, load_fingerprints())
    assert _check(db) == before
