"""The ingest benchmarks' shared client (bench/submit.py) against a real
collector, in both of its uses: bench/ingest.py's prepared batches sent as
fast as acks allow, and bench/sustained.py's paced batches with fresh ids,
every ack timed. Each measurement sent is stored once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bench.ingest import prepare, send
from bench.submit import wait_ready
from bench.sustained import Load, _probe, _template
from tests.integration.collector_harness import chdb_dsn, count, running, settings_for


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def test_both_benchmarks_stream_batches_that_are_stored(dsn: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            token = collector.registry.add("probe", "bench-probe", country="IT")
            address = f"unix:{collector.settings.unix}"
            await wait_ready(address, token, time.monotonic() + 30, "bench-probe")
            # bench/ingest.py: 3 batches on each of 2 streams, window 2
            per_stream = prepare(1200, 200, 2)
            acked = await asyncio.gather(*(send(address, token, batches, 2)
                                           for batches in per_stream))
            assert acked == [600, 600]
            assert await count(collector) == 1200
            # bench/sustained.py: 100-measurement batches at 1,000/s for ~0.5 s
            load = Load()
            template = _template(100, unfiltered=False)
            await _probe(address, token, 1000, time.monotonic() + 0.5, template, load)
            batches = len(load.latencies)
            assert load.failures == 0 and batches >= 2
            assert load.acked == 100 * batches
            assert all(0 < seconds < 30 for _, seconds in load.latencies)
            assert await count(collector) == 1200 + 100 * batches

    asyncio.run(scenario())
