"""What the probe does with the collector's answers: a batch the collector
refuses as invalid is set aside in the spool's rejected table with the
collector's reason and said loudly; the good batches around it are stored."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from pathlib import Path

import pytest

from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_measurement
from tests.integration.collector_harness import (
    chdb_dsn,
    count,
    drain,
    measurement,
    running,
    settings_for,
    uploader,
)


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def test_an_invalid_batch_is_set_aside_with_the_collectors_reason(
        dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(dsn, tmp_path)
    bad = dataclasses.replace(measurement(1), qtype=70_000)  # no such DNS type

    async def scenario() -> None:
        async with running(settings) as collector:
            token = collector.registry.add("probe", "p1", country="IT")
            with Spool(tmp_path / "spool.db") as spool:
                spool.add([encode_measurement(measurement(0)), encode_measurement(bad),
                           encode_measurement(measurement(2))])
                with caplog.at_level(logging.ERROR, logger="blockwatch.probe.upload"):
                    stats = await drain(uploader(spool, f"unix:{settings.unix}", token,
                                                 batch_size=1))
                assert spool.pending() == 0
            assert (stats.batches_acked, stats.measurements_acked) == (2, 2)
            assert stats.batches_rejected == 1
            assert await count(collector) == 2
        with sqlite3.connect(tmp_path / "spool.db") as db:
            reasons = [r[0] for r in db.execute("SELECT reason FROM rejected")]
        assert len(reasons) == 1 and "qtype" in reasons[0], reasons
        assert "collector REJECTED batch" in caplog.text and "record 0" in caplog.text

    asyncio.run(scenario())
