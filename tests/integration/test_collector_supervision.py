"""No background task of the collector dies silently: a classification pass that
raises an unexpected error is logged, counted, shown in health and retried, and
classification resumes once the fault is gone; `stop()` still stops the writer
when a task failed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import blockwatch.collector.verdictpass as verdictpass_module
from blockwatch.analysis import storage
from blockwatch.collector.registry import Registry
from blockwatch.collector.server import Collector
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

CLASSIFY_HEALTH = "blockwatch.collector.classify"
HOUSEKEEPING_HEALTH = "blockwatch.collector.housekeeping"


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


async def _health(address: str, service: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(reply.status)


async def _verdicts(collector: Collector) -> int:
    rows = await collector.writer.call(collector.writer.store.rows,
                                       "SELECT count() FROM verdicts FINAL")
    return int(str(rows[0][0]))


async def _until(predicate: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def test_a_failing_classification_pass_is_loud_counted_and_resumes(
        dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    fault: list[Exception] = [ValueError("injected: a rule that raises")]
    real = storage.store_pending_verdicts

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if fault:
            raise fault[0]
        return real(*args, **kwargs)

    monkeypatch.setattr(verdictpass_module, "store_pending_verdicts", flaky)

    async def scenario() -> None:
        settings = settings_for(dsn, tmp_path)
        collector = Collector(settings)
        collector.verdict_pass.interval_s = 0.05
        collector.verdict_pass.settle_s = 0.0
        await collector.start()
        try:
            address = f"unix:{settings.unix}"
            metrics = collector.metrics.registry
            token = Registry(settings.registry_path).add("probe", "probe-it", country="IT")
            spool = Spool(tmp_path / "spool.db")
            spool.add([encode_measurement(measurement(i)) for i in range(30)])
            stats = await drain(uploader(spool, address, token))
            assert stats.measurements_acked == 30   # ingest keeps working meanwhile

            async def failing_twice() -> bool:
                value = metrics.get_sample_value("blockwatch_task_failures_total",
                                                 {"task": "classify"})
                return value is not None and value >= 2
            await _until(failing_twice)
            assert await _health(address, CLASSIFY_HEALTH) == \
                health_pb2.HealthCheckResponse.NOT_SERVING
            # ingest itself stays healthy: the overall and probe service health
            assert await _health(address, "") == health_pb2.HealthCheckResponse.SERVING
            assert await _verdicts(collector) == 0
            assert any("event=task_failed task=classify" in r.getMessage()
                       and r.exc_info is not None for r in caplog.records)

            fault.clear()   # the fault is removed: the next retry succeeds

            async def classified() -> bool:
                return await _verdicts(collector) == 30
            await _until(classified)
            await _until(lambda: _serving(address))
            assert metrics.get_sample_value("blockwatch_task_last_success_seconds",
                                            {"task": "classify"}) is not None
        finally:
            await collector.stop(grace=2.0)

    async def _serving(address: str) -> bool:
        status = await _health(address, CLASSIFY_HEALTH)
        return bool(status == health_pb2.HealthCheckResponse.SERVING)

    asyncio.run(scenario())


def test_housekeeping_failure_is_supervised_and_stop_still_stops_the_writer(
        dsn: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            address = f"unix:{collector.settings.unix}"

            def broken(stats: object) -> None:
                raise ValueError("injected: registry bug")

            collector.housekeeping_s = 0.05
            collector.registry.record_activity = broken  # type: ignore[method-assign]

            async def counted() -> bool:
                value = collector.metrics.registry.get_sample_value(
                    "blockwatch_task_failures_total", {"task": "housekeeping"})
                return value is not None and value >= 1
            await _until(counted)
            assert await _health(address, HOUSEKEEPING_HEALTH) == \
                health_pb2.HealthCheckResponse.NOT_SERVING
            # stop() must not raise because housekeeping (or its own last flush of
            # probe activity) failed, and must stop the writer: its thread owns chDB.
        assert collector.writer._task is None and collector.writer._store is None
        assert collector._stopped.is_set()

    asyncio.run(scenario())


def test_a_bug_around_an_insert_does_not_stop_the_ingest_writer(
        dsn: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            address = f"unix:{collector.settings.unix}"
            token = Registry(collector.settings.registry_path).add("probe", "probe-it",
                                                                   country="IT")
            observe = collector.metrics.group_batches.observe
            faults = [ValueError("injected: after the insert returned")]

            def flaky(value: float) -> None:
                if faults:
                    raise faults.pop()
                observe(value)

            collector.metrics.group_batches.observe = flaky  # type: ignore[method-assign,assignment]
            spool = Spool(tmp_path / "spool.db")
            spool.add([encode_measurement(measurement(i)) for i in range(30)])
            stats = await drain(uploader(spool, address, token, batch_size=10),
                                give_up_after_s=30)
            # the failed group was answered UNAVAILABLE and resent: already stored,
            # so acknowledged as duplicates; nothing lost, nothing stored twice
            assert stats.measurements_acked == 30 and stats.duplicates > 0
            assert spool.pending() == 0
            assert await count(collector) == 30
            assert collector.metrics.registry.get_sample_value(
                "blockwatch_task_failures_total", {"task": "ingest-writer"}) == 1

    asyncio.run(scenario())
