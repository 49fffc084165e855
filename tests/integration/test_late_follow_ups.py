"""Follow-ups that arrive after their DNS measurement's site verdict (later than
web_settle_s) are said loudly: flagged in web_verdicts, counted in the
collector's `blockwatch_late_follow_ups_total`, and every report's status says
"N follow-ups arrived after their site verdicts; run reclassify --since DAY"
until a reclassify of that day writes the site verdict with them. Real chDB,
the collector's pass on its lane."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.status import read_status
from blockwatch.analysis.storage import reclassify
from blockwatch.collector.verdictpass import StoreDatabase
from tests.integration.analysis_world import create_schema
from tests.integration.collector_harness import chdb_dsn, running, settings_for
from tests.integration.test_site_verdicts import (
    CF451,
    CH,
    EDGE,
    FPS,
    HFPS,
    IT,
    IT_PATHS,
    KAT,
    T0,
    World,
    health,
    run_pass,
    sites,
)

_DBS = itertools.count()
DNS_RECEIVED = T0 + dt.timedelta(seconds=30)


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


@pytest.fixture
def db(dsn: str) -> Iterator[ClickHouseDatabase]:
    handle = create_schema(dsn, f"late{next(_DBS)}")
    yield handle
    handle.close()


def _milan(w: World) -> str:
    health(w, IT, IT_PATHS)
    health(w, CH, [("cloudflare", "udp")])
    ctl = w.dns(CH, "cloudflare", "udp", KAT, (EDGE,))
    w.follow(CH, KAT, EDGE, [ctl])
    return w.dns(IT, "cloudflare", "udp", KAT, (EDGE,))


def test_a_follow_up_after_its_site_verdict_is_counted_until_a_reclassify(
        db: ClickHouseDatabase) -> None:
    w = World()
    mid = _milan(w)
    w.store(db)
    run_pass(db, web_settle_s=120, now=DNS_RECEIVED + dt.timedelta(seconds=125))
    assert sites(db)[mid]["web_rule"] == "no_follow_up"
    assert read_status(db.rows).late_follow_ups == 0
    # the edge's 451 arrives 10 minutes after the DNS measurement
    w.follow(IT, KAT, EDGE, [mid], status=451, headers=CF451,
             received=DNS_RECEIVED + dt.timedelta(minutes=10))
    w.store(db)
    run_pass(db, web_settle_s=120, now=DNS_RECEIVED + dt.timedelta(minutes=11))
    assert sites(db)[mid]["verdict"] == "ok"          # written without it, and kept
    status = read_status(db.rows)
    assert (status.late_follow_ups, status.late_since) == (1, T0.date())
    assert status.note() == ("1 follow-up arrived after their site verdicts; "
                             "run reclassify --since 2024-09-03")
    reclassify(db, FPS, http_fingerprints=HFPS, since=T0.date())
    assert (sites(db)[mid]["verdict"], sites(db)[mid]["method"]) == ("blocked", "http-451")
    assert read_status(db.rows).late_follow_ups == 0
    assert read_status(db.rows).note() == ""


def test_follow_ups_within_web_settle_are_not_late(db: ClickHouseDatabase) -> None:
    w = World()
    mid = _milan(w)
    w.follow(IT, KAT, EDGE, [mid], status=451, headers=CF451,
             received=DNS_RECEIVED + dt.timedelta(seconds=90))
    w.store(db)
    run_pass(db, web_settle_s=120, now=DNS_RECEIVED + dt.timedelta(seconds=125))
    assert sites(db)[mid]["method"] == "http-451"
    assert read_status(db.rows).late_follow_ups == 0


def test_the_collector_counts_late_follow_ups_in_its_metrics(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = settings_for(chdb_dsn(tmp_path_factory), tmp_path, settle_s=0.0,
                                web_settle_s=0.0)
        async with running(settings) as collector:
            store = StoreDatabase(collector.writer.store)

            async def put(w: World) -> None:
                for table, rows in (("measurements", w.measurements),
                                    ("web_observations", w.web)):
                    if rows:
                        columns = list(rows[0])
                        await collector.writer.call(store.insert, table, columns,
                                                    [[r[c] for c in columns] for r in rows])

            w = World()
            mid = _milan(w)
            await put(w)
            await collector.verdict_pass.run_once()
            late = World()
            late.follow(IT, KAT, EDGE, [mid], status=451, headers=CF451,
                        received=DNS_RECEIVED + dt.timedelta(minutes=10))
            await put(late)
            await collector.verdict_pass.run_once()
            metric = collector.metrics.registry.get_sample_value(
                "blockwatch_late_follow_ups_total")
            assert metric == 1.0
            assert collector.verdict_pass.late_follow_ups == 1

    asyncio.run(scenario())
