"""The background pass gives every layer its turn: under sustained arrivals
there is always another DNS chunk, and a pass that drained DNS before turning
to sites wrote no site verdict (what reports read by default) for as long as
the load lasted (bench/sustained.py at 50k/s: none in 60 s)."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from blockwatch.analysis.storage import store_pending_verdicts
from blockwatch.collector.lane import AnalysisLane
from blockwatch.collector.verdictpass import VerdictPass
from tests.integration.collector_harness import chdb_dsn, running, settings_for

T = TypeVar("T")
ARRIVALS = 4
PER_ARRIVAL = 2_000

# Measurements as probes' batches leave them, received just now (the engine
# writes them: no Python per row).
_ARRIVE = """INSERT INTO measurements (measurement_id, batch_id, round_id, probe_name,
    probe_country, probe_asn, probe_control, started_at, received_at, domain, qtype, qclass,
    purpose, resolver_name, resolver_address, resolver_port, transport, failure,
    response_count, rcode, flags, `answers.name`, `answers.type`, `answers.ttl`,
    `answers.data`, reply_count, answer_set_count)
SELECT generateUUIDv7(number), 'arrival', 'r1', concat('p', toString(number % 7)), 'IT', 3269,
    false, now64(6, 'UTC') - toIntervalMillisecond(500), now64(6, 'UTC') - toIntervalMillisecond(1),
    d, 1, 1, 'target', 'isp', '192.0.2.53', 53, 'udp', 'none', 1, 0, 0x8180, [d], [1], [300],
    [concat('104.16.', toString(number % 250), '.1')], 1, 1
FROM (SELECT number, concat('d', toString(number % 300), '.example') AS d
      FROM numbers({n:UInt64}))"""


class ArrivingLane:
    """The collector's analysis lane, with a batch of new measurements arriving
    after each of the first DNS chunks (faster than the pass), noting how many
    site verdicts existed at each arrival."""

    def __init__(self, lane: AnalysisLane) -> None:
        self._lane = lane
        self.sites_at_arrival: list[int] = []

    @property
    def store(self) -> Any:
        return self._lane.store

    async def call(self, fn: Any, *args: object) -> T:
        out = cast(T, await self._lane.call(fn, *args))
        dns_chunk = isinstance(fn, functools.partial) and fn.func is store_pending_verdicts
        if dns_chunk and len(self.sites_at_arrival) < ARRIVALS:
            rows: list[tuple[Any, ...]] = await self._lane.call(
                self.store.rows, "SELECT count() FROM site_verdicts")
            self.sites_at_arrival.append(int(str(rows[0][0])))
            await self._lane.call(self.store.command, _ARRIVE, {"n": PER_ARRIVAL})
        return out


def test_site_verdicts_are_written_while_measurements_keep_arriving(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(chdb_dsn(tmp_path_factory), tmp_path)) as collector:
            # the collector's own pass keeps its 60 s settle time: it leaves these alone
            lane = ArrivingLane(collector.lane)
            fair = VerdictPass(cast(AnalysisLane, lane), settle_s=0.0, web_settle_s=0.0,
                               fingerprints=collector.verdict_pass.fingerprints)
            await lane.call(lane.store.command, _ARRIVE, {"n": PER_ARRIVAL})
            done = await fair.run_once()
            assert len(lane.sites_at_arrival) == ARRIVALS
            # Site verdicts came while measurements were still arriving, not after.
            assert lane.sites_at_arrival[0] == 0
            assert lane.sites_at_arrival[-1] >= PER_ARRIVAL, lane.sites_at_arrival
            # and in the end every measurement has both verdicts
            total = PER_ARRIVAL * (ARRIVALS + 1)
            assert done == total
            rows: list[tuple[Any, ...]] = await lane.call(
                lane.store.rows, "SELECT uniqExact(measurement_id) FROM site_verdicts")
            assert int(str(rows[0][0])) == total

    asyncio.run(scenario())
