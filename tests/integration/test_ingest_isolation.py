"""Ingest acks never wait behind analysts' work: on a real grpc.aio collector
with embedded chDB, a probe's batch sent while a Reclassify of a few hundred
thousand measurements runs is acked in about the usual time (it waited for the
whole Reclassify before the analysis lane: 64.9 s where 0.05 s is normal);
analysts beyond the bounded queue, and a second Reclassify, are refused with
RESOURCE_EXHAUSTED saying why."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from blockwatch.analysis.errors import RemoteError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.remote import Endpoint, fetch_report, reclassify_remote
from blockwatch.collector.enginethreads import MERGE_THREAD_NAME, threads
from blockwatch.collector.registry import Registry
from blockwatch.collector.server import BACKGROUND_NICE
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

PRELOADED = 300_000
ACK_BOUND_S = 5.0      # generous on a loaded 2-core machine; normal is ~0.05 s

# Stored measurements the engine generates (no Python per row): probes in 20
# countries resolving 300 names, every 20th one a control domain.
_GENERATE = """INSERT INTO measurements (measurement_id, batch_id, round_id, probe_name,
    probe_country, probe_asn, probe_control, started_at, received_at, domain, qtype, qclass,
    purpose, resolver_name, resolver_address, resolver_port, transport, failure,
    response_count, rcode, flags, `answers.name`, `answers.type`, `answers.ttl`,
    `answers.data`, reply_count, answer_set_count)
SELECT generateUUIDv7(number), 'pre', 'pre', concat('p', toString(number % 20)),
    ['IT', 'DE', 'FR', 'ES', 'NL'][1 + number % 5], 64512, false,
    now64(6, 'UTC') - toIntervalSecond(3600) + toIntervalMicrosecond(number * 10),
    now64(6, 'UTC') - toIntervalSecond(3000), d, 1, 1,
    if(number % 20 = 0, 'control', 'target'), 'isp', '192.0.2.53', 53, 'udp', 'none', 1, 0,
    0x8180, [d], [1], [300], [concat('104.16.', toString(number % 250), '.1')], 1, 1
FROM (SELECT number, if(number % 20 = 0, 'control.example',
                        concat('d', toString(number % 300), '.example')) AS d
      FROM numbers({n:UInt64}))"""


def test_a_batch_sent_during_a_reclassify_is_acked_at_once(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(chdb_dsn(tmp_path_factory), tmp_path)) as collector:
            collector.verdict_pass.settle_s = 0.0
            store = collector.writer.store
            await collector.writer.call(store.command, _GENERATE, {"n": PRELOADED})
            cli = Registry(collector.settings.registry_path)
            analyst = cli.add("analyst", "ana")
            probe = cli.add("probe", "probe-it", country="IT", asn=3269)
            cli.close()
            unix = Endpoint(f"unix:{collector.settings.unix}", analyst)

            started = time.monotonic()
            reclassifying = asyncio.create_task(reclassify_remote(unix, ""))
            await asyncio.sleep(1.0)
            # A second Reclassify meanwhile is refused, saying why.
            with pytest.raises(RemoteError) as second:
                await reclassify_remote(unix, "")
            assert second.value.code == "RESOURCE_EXHAUSTED"
            assert "already running" in str(second.value)

            with Spool(tmp_path / "spool.db") as spool:
                spool.add([encode_measurement(measurement(i)) for i in range(200)])
                sent = time.monotonic()
                stats = await drain(uploader(spool, f"127.0.0.1:{collector.tcp_ports[0]}",
                                             probe))
                acked_s = time.monotonic() - sent
            assert stats.measurements_acked == 200
            assert not reclassifying.done(), (
                "the Reclassify ended before the batch was acked: the test proves nothing "
                f"(it took {time.monotonic() - started:.1f} s)")
            assert acked_s < ACK_BOUND_S, f"a batch waited {acked_s:.1f} s for its ack"

            # Analysts beyond the bounded queue are refused at once, not queued
            # without end (the Reclassify still holds the lane).
            gate = collector.gate
            calls = gate.max_running + gate.max_waiting + 6
            outcomes = await asyncio.gather(
                *(fetch_report(unix, "probes", Filters()) for _ in range(calls)),
                return_exceptions=True)
            refused = [o for o in outcomes if isinstance(o, RemoteError)]
            assert refused and all(o.code == "RESOURCE_EXHAUSTED" for o in refused)
            assert "busy" in str(refused[0])
            assert len(refused) <= calls - gate.max_running - gate.max_waiting + 2

            result = await reclassifying
            assert int(result["measurements"]) >= PRELOADED

    asyncio.run(scenario())


def test_the_lanes_engine_threads_run_below_ingest_priority(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """Not only each lane's own thread: the engine's query threads of a report
    (two by default) and of classification are niced too, ingest's are not;
    the background lane feeds the rollup views one after another (fewer of its
    threads at once beside ingest)."""
    query = ("SELECT getSetting('os_thread_priority') * 10 "
             "+ getSetting('parallel_view_processing')")

    async def scenario() -> tuple[int, int, int]:
        async with running(settings_for(chdb_dsn(tmp_path_factory), tmp_path)) as collector:
            levels = []
            for lane_call, store in ((collector.writer.call, collector.writer.store),
                                     (collector.lane.call, collector.lane.store),
                                     (collector.reports_lane.call, collector.reports_lane.store)):
                rows = await lane_call(store.rows, query)
                levels.append(int(str(rows[0][0])))
            return levels[0], levels[1], levels[2]

    assert asyncio.run(scenario()) == (0, 100, 50)


def test_the_engines_merge_threads_run_below_ingest_priority(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """ClickHouse merges on its own executor threads, not the lanes' query
    threads: a collector gives them the background lane's nice value, and
    leaves ingest's thread as it was (merges took up to a core beside ingest
    while classification wrote large chunks: the acks' slow bursts)."""
    async def scenario() -> tuple[list[int], int]:
        async with running(settings_for(chdb_dsn(tmp_path_factory), tmp_path)) as collector:
            merges = [t.nice for t in threads() if t.name == MERGE_THREAD_NAME]
            ingest = await collector.writer.call(threading.get_native_id)
            return merges, os.getpriority(os.PRIO_PROCESS, ingest)

    merges, ingest_nice = asyncio.run(scenario())
    assert merges, "the embedded engine runs no merge thread: the test proves nothing"
    assert merges == [BACKGROUND_NICE] * len(merges)
    assert ingest_nice == 0
