"""Who runs next on the background lane: the live pass before a reclassify.

One chunk at a time runs on the lane (the engine work of one job must not
interleave with another's marks). The live pass's verdicts are what reports
show now, with a lag to keep bounded; a reclassify rewrites history an analyst
asked for and may take longer. So a waiting live turn goes first, but a
waiting reclassify chunk still runs after at most `live_per_batch` live turns
in a row, so it finishes even while the pass never goes idle. Among turns of
one kind, first come, first served.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from blockwatch.collector.errors import CollectorError


class Turns:
    def __init__(self, *, live_per_batch: int = 3) -> None:
        if live_per_batch < 1:
            raise CollectorError("live_per_batch must be at least 1")
        self.live_per_batch = live_per_batch
        self._busy = False
        self._live_in_a_row = 0
        self._waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}

    @asynccontextmanager
    async def turn(self, *, live: bool) -> AsyncIterator[None]:
        """Hold the lane for one turn (`live`: the background pass's)."""
        if self._busy or any(self._waiting.values()):
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting[live].append(granted)
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._release(live)     # granted just as it was cancelled: pass it on
                else:
                    self._waiting[live].remove(granted)
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._release(live)

    def _release(self, live: bool) -> None:
        self._live_in_a_row = self._live_in_a_row + 1 if live else 0
        self._busy = False
        # Hand over on the loop's next round, not now: the pass and a
        # reclassify are each one task that asks for its next turn right after
        # releasing this one (no await in between). Decided now, a live turn
        # was never waiting yet, and the lane alternated one to one.
        asyncio.get_running_loop().call_soon(self._hand_over)

    def _hand_over(self) -> None:
        if self._busy:   # taken meanwhile by a newcomer to an idle lane
            return
        batch_due = self._live_in_a_row >= self.live_per_batch
        order = (False, True) if batch_due or not self._waiting[True] else (True, False)
        for kind in order:
            queue = self._waiting[kind]
            while queue:
                granted = queue.popleft()
                if not granted.done():
                    self._busy = True
                    granted.set_result(None)
                    return
