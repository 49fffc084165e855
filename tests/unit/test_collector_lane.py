"""The analyst gate: a bounded number of analysts' calls run and wait, the
next is refused at once saying why; one reclassify at a time."""

from __future__ import annotations

import asyncio

import pytest

from blockwatch.collector.lane import AnalystGate, Busy


def test_calls_beyond_running_and_waiting_are_refused_at_once() -> None:
    async def scenario() -> None:
        gate = AnalystGate(max_running=1, max_waiting=2)
        release = asyncio.Event()
        running = 0

        async def call() -> None:
            nonlocal running
            async with gate.admit("report x"):
                running += 1
                await release.wait()

        admitted = [asyncio.create_task(call()) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert running == 1                      # one runs, two wait
        with pytest.raises(Busy, match="busy with 3 analyst requests"):
            async with gate.admit("report y"):
                pass
        release.set()
        await asyncio.gather(*admitted)
        assert running == 3
        async with gate.admit("report z"):       # room again
            pass

    asyncio.run(scenario())


def test_a_second_reclassify_is_refused_while_one_runs() -> None:
    async def scenario() -> None:
        gate = AnalystGate()
        async with gate.reclassifying():
            with pytest.raises(Busy, match="already running"):
                async with gate.reclassifying():
                    pass
        async with gate.reclassifying():         # done: a new one may start
            pass

    asyncio.run(scenario())
