"""A failure inside the probe's upload loop does not end delivery silently: the
supervisor logs it loudly, keeps it in the spool for `check`, and restarts the
task, which then delivers everything to the real in-process collector."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_measurement
from blockwatch.runtime.supervise import TaskHealth, supervise
from tests.integration.collector_harness import (
    chdb_dsn,
    count,
    measurement,
    running,
    settings_for,
    uploader,
)
from tests.reliability.conftest import Figures


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def test_an_exception_in_the_upload_loop_is_loud_and_the_task_restarts(
        dsn: str, tmp_path: Path, figures: Figures, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    total = 40

    async def scenario() -> None:
        settings = settings_for(dsn, tmp_path)
        async with running(settings) as collector:
            token = collector.registry.add("probe", "sup-1", country="IT")
            with Spool(tmp_path / "spool.db") as spool:
                spool.add([encode_measurement(measurement(i)) for i in range(total)])
                real = Spool.next_batch
                injected = [2]

                def failing(self: Spool, *args: object, **kwargs: object) -> object:
                    if injected[0]:
                        injected[0] -= 1
                        raise ValueError("injected: a bug in the upload loop")
                    return real(self, *args, **kwargs)  # type: ignore[arg-type]

                monkeypatch.setattr(Spool, "next_batch", failing)
                up = uploader(spool, f"unix:{settings.unix}", token, name="sup-1",
                              batch_size=10)
                stop = asyncio.Event()
                health = TaskHealth()
                task = asyncio.create_task(supervise(
                    "upload", lambda: up.run(stop), stop, health,
                    on_failure=spool.record_task_failure, first_delay_s=0.1))
                began = time.monotonic()
                for _ in range(600):                    # 30 s at most
                    if not spool.pending():
                        break
                    await asyncio.sleep(0.05)
                stop.set()
                await asyncio.wait_for(task, 30)        # stop() always stops it
                assert spool.pending() == 0
                assert health.failures == {"upload": 2}
                [(name, failures, error, _)] = spool.task_failures()
                assert (name, failures) == ("upload", 2) and "injected" in error
            assert await count(collector) == total
            figures.record("task_death", injected_failures=2, restarts=2,
                           delivered=total, delivered_in_s=round(time.monotonic() - began, 2))

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert caplog.text.count("TASK upload FAILED") == 2
    assert "ValueError: injected" in caplog.text
