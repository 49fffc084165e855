"""The background lane's turns: live pass first, a reclassify chunk after at
most N live turns in a row, first come first served within a kind, and a
cancelled waiter never wedges the lane."""

from __future__ import annotations

import asyncio

from blockwatch.collector.turns import Turns


async def _job(turns: Turns, name: str, live: bool, log: list[str], hold: float = 0.01) -> None:
    async with turns.turn(live=live):
        log.append(name)
        await asyncio.sleep(hold)


async def _queued(turns: Turns, jobs: list[tuple[str, bool]], log: list[str]) -> None:
    """`jobs` queued (in that order) while a first live turn holds the lane."""
    first = asyncio.create_task(_job(turns, "first", True, log, hold=0.05))
    await asyncio.sleep(0)
    tasks = []
    for name, live in jobs:
        tasks.append(asyncio.create_task(_job(turns, name, live, log)))
        await asyncio.sleep(0)
    await asyncio.gather(first, *tasks)


def test_a_waiting_live_turn_goes_before_an_earlier_reclassify_chunk() -> None:
    log: list[str] = []
    asyncio.run(_queued(Turns(live_per_batch=3), [("r1", False), ("l1", True)], log))
    assert log == ["first", "l1", "r1"]


def test_a_reclassify_chunk_runs_after_at_most_n_live_turns_in_a_row() -> None:
    log: list[str] = []
    jobs = [("r1", False), ("r2", False)] + [(f"l{i}", True) for i in range(1, 7)]
    asyncio.run(_queued(Turns(live_per_batch=2), jobs, log))
    assert log == ["first", "l1", "r1", "l2", "l3", "r2", "l4", "l5", "l6"]


def test_an_idle_lane_is_taken_at_once_and_a_cancelled_waiter_is_skipped() -> None:
    async def scenario() -> list[str]:
        turns, log = Turns(), list[str]()
        await _job(turns, "alone", False, log)
        holder = asyncio.create_task(_job(turns, "holder", True, log, hold=0.05))
        await asyncio.sleep(0)
        gone = asyncio.create_task(_job(turns, "gone", True, log))
        later = asyncio.create_task(_job(turns, "later", False, log))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.gather(holder, later)
        await asyncio.wait_for(_job(turns, "after", True, log), 1.0)
        return log

    assert asyncio.run(scenario()) == ["alone", "holder", "later", "after"]


def test_a_pass_that_asks_again_at_once_keeps_its_turns_over_a_reclassify() -> None:
    """As the server runs them: the live pass is one task that asks for its
    next turn right after releasing one, and so is a reclassify. The live pass
    still gets `live_per_batch` turns to each reclassify chunk, not one (the
    release used to find no live turn waiting yet and handed the lane over)."""
    async def loop(turns: Turns, name: str, live: bool, times: int, log: list[str]) -> None:
        for _ in range(times):
            async with turns.turn(live=live):
                log.append(name)
                await asyncio.sleep(0.001)

    async def scenario() -> list[str]:
        turns, log = Turns(live_per_batch=3), list[str]()
        live = asyncio.create_task(loop(turns, "L", True, 9, log))
        await asyncio.sleep(0)
        await asyncio.gather(live, loop(turns, "R", False, 3, log))
        return log

    assert "".join(asyncio.run(scenario())) == "LLLRLLLRLLLR"
