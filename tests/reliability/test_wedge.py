"""A batch the collector refuses as too large never wedges delivery.

Two triggers from issue 10: the collector's `max_measurements` below the
probe's batch size, and a backlog of big measurements (hostile resolvers
answering 64 KB records) that forms a batch over the collector's gRPC message
limit. In both, every measurement reaches the collector exactly once, and one
measurement that can never fit is moved aside loudly, not resent forever.
Real parts: the in-process collector with embedded chDB, real gRPC.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from pathlib import Path

import pytest

from blockwatch.collector.server import Collector
from blockwatch.collector.validation import Limits
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
from tests.reliability.conftest import Figures

WIRE = 60_000      # bytes of raw reply kept per response (the collector allows 65,535)


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def _big(i: int, responses: int) -> bytes:
    """A measurement keeping `responses` raw replies of WIRE bytes each."""
    m = measurement(i, responses=responses)
    m.responses = [dataclasses.replace(r, wire=bytes([i % 256]) * WIRE) for r in m.responses]
    return encode_measurement(m)


async def _stored(collector: Collector) -> tuple[int, int]:
    """Rows as stored (no FINAL: a duplicate would show) and distinct ids."""
    store = collector.writer.store
    rows = await collector.writer.call(
        store.rows, "SELECT count(), uniqExact(measurement_id) FROM measurements")
    return int(str(rows[0][0])), int(str(rows[0][1]))


def _ids(spool_path: Path) -> tuple[int, int]:
    with sqlite3.connect(spool_path) as db:
        pending = db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
        rejected = db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
    return int(pending), int(rejected)


def test_max_measurements_below_the_batch_size_does_not_wedge(
        dsn: str, tmp_path: Path, figures: Figures) -> None:
    total = 47

    async def scenario() -> None:
        settings = settings_for(dsn, tmp_path, limits=Limits(max_measurements=4))
        async with running(settings) as collector:
            token = collector.registry.add("probe", "wedge-1", country="IT")
            with Spool(tmp_path / "spool.db") as spool:
                spool.add([encode_measurement(measurement(i)) for i in range(total)])
                # a batch already formed at the old size, as after an upgrade or a
                # collector whose limit went down: it must be re-formed too
                formed = spool.next_batch(20)
                assert formed is not None and formed.size == 20
                up = uploader(spool, f"unix:{settings.unix}", token, name="wedge-1",
                              batch_size=20)
                began = time.monotonic()
                stats = await drain(up, give_up_after_s=30)
                elapsed = time.monotonic() - began
                assert spool.pending() == 0
                assert spool.stats().rejected == 0
            stored, unique = await _stored(collector)
            assert stored == unique == total
            assert stats.measurements_acked == total and stats.duplicates == 0
            figures.record("wedge", max_measurements_limit=4, probe_batch_size=20,
                           measurements=total, stored_once=stored,
                           delivered_in_s=round(elapsed, 2),
                           batches_refused_too_large=stats.batches_too_large)

    asyncio.run(scenario())


def test_backlog_over_the_message_limit_is_split_and_one_giant_is_set_aside(
        dsn: str, tmp_path: Path, figures: Figures, caplog: pytest.LogCaptureFixture) -> None:
    limit = 512 * 1024
    normal = 30          # ~60 KB each: a 1.8 MB backlog, over the 512 KiB message limit

    async def scenario() -> None:
        settings = settings_for(dsn, tmp_path, max_message_bytes=limit)
        async with running(settings) as collector:
            token = collector.registry.add("probe", "wedge-2", country="IT")
            with Spool(tmp_path / "spool.db") as spool:
                payloads = [_big(i, 1) for i in range(normal)]
                giant = _big(999, 12)          # ~720 KB: can never fit in one message
                assert len(giant) > limit
                payloads.insert(10, giant)
                spool.add(payloads)
                up = uploader(spool, f"unix:{settings.unix}", token, name="wedge-2",
                              batch_size=500)
                began = time.monotonic()
                with caplog.at_level(logging.WARNING):
                    stats = await drain(up, give_up_after_s=40)
                elapsed = time.monotonic() - began
                pending, rejected = _ids(tmp_path / "spool.db")
                assert (pending, rejected) == (0, 1)
                with sqlite3.connect(tmp_path / "spool.db") as db:
                    kept, reason = db.execute("SELECT payload, reason FROM rejected").fetchone()
                assert kept == giant and "too large" in reason
            assert "TOO LARGE" in caplog.text
            stored, unique = await _stored(collector)
            assert stored == unique == normal
            assert stats.measurements_acked == normal and stats.duplicates == 0
            assert stats.measurements_too_large == 1
            figures.record("wedge_bytes", message_limit_bytes=limit, backlog_bytes=sum(
                len(p) for p in payloads), measurements=normal + 1, stored_once=stored,
                set_aside_too_large=1, delivered_in_s=round(elapsed, 2))

    asyncio.run(scenario())

