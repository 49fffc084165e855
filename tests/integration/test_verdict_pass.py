"""The collector's classification: a reclassify honours the settle wait like the
background pass (a measurement's control may still be on its way)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from blockwatch.collector.registry import Registry
from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_measurement
from tests.integration.collector_harness import (
    chdb_dsn,
    drain,
    measurement,
    running,
    settings_for,
    uploader,
)


def test_reclassify_catch_up_waits_for_the_settle_time(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = settings_for(chdb_dsn(tmp_path_factory), tmp_path)
        async with running(settings) as collector:
            token = Registry(settings.registry_path).add("probe", "probe-it", country="IT")
            spool = Spool(tmp_path / "spool.db")
            spool.add([encode_measurement(measurement(i)) for i in range(10)])
            assert (await drain(uploader(spool, f"unix:{settings.unix}", token))
                    ).measurements_acked == 10
            store = collector.writer.store

            async def verdicts() -> int:
                rows = await collector.writer.call(store.rows,
                                                   "SELECT count() FROM verdicts FINAL")
                return int(str(rows[0][0]))

            assert collector.verdict_pass.settle_s == 60.0   # the default
            # Just received: neither the pass nor a reclassify may judge them yet.
            assert await collector.verdict_pass.run_once() == 0
            result = await collector.verdict_pass.reclassify(None)
            assert (result.measurements, await verdicts()) == (0, 0)
            # Once settled (here: no settle time), the same catch-up classifies them.
            collector.verdict_pass.settle_s = 0.0
            result = await collector.verdict_pass.reclassify(None)
            assert (result.measurements, await verdicts()) == (10, 10)

    asyncio.run(scenario())
