"""When the verdict pass next has work, from the times this collector stored
batches (pure: no clock, no I/O).

A measurement is due for its DNS verdict a wait after its receipt (the settle
time), for its site verdict a longer one (settle and web settle: its web
follow-ups must have settled and had their verdicts). Waking the pass then,
not on a fixed interval, takes the interval out of the verdict lag: a pass
that had caught up slept 10 s whatever arrived. The fixed interval stays as
the longest sleep, for what this collector does not see arrive (another
collector's inserts, follow-ups judged late).
"""

from __future__ import annotations

import bisect

# Receipts closer than this share one entry (the later one: waking for it is
# at most this late for the earlier ones, never early for the later).
COALESCE_US = 100_000
# A pass that keeps failing must not let the list grow without bound: the
# oldest entries go first (they are long due; the interval still wakes it).
MAX_ENTRIES = 100_000


class Receipts:
    """Receipt times (µs since the epoch) of what the pass may not have judged."""

    def __init__(self) -> None:
        self._times: list[int] = []

    def __len__(self) -> int:
        return len(self._times)

    def add(self, received_us: int) -> None:
        if self._times and received_us - self._times[-1] < COALESCE_US:
            # coalesced, or the clock stepped back: keep the list sorted
            self._times[-1] = max(self._times[-1], received_us)
            return
        self._times.append(received_us)
        if len(self._times) > MAX_ENTRIES:
            del self._times[:len(self._times) - MAX_ENTRIES]

    def passed(self, began_us: int, waits_us: tuple[int, ...]) -> None:
        """A pass that began at `began_us` judged what was due then, each layer
        what had waited its wait (`waits_us`): forget what no layer waits for."""
        horizon = began_us - max(waits_us)
        del self._times[:bisect.bisect_right(self._times, horizon)]

    def next_due_us(self, began_us: int, waits_us: tuple[int, ...]) -> int | None:
        """When the first receipt that the pass which began at `began_us` could
        not judge yet becomes due in any layer; None when there is none."""
        due = [self._times[i] + wait for wait in waits_us
               if (i := bisect.bisect_right(self._times, began_us - wait)) < len(self._times)]
        return min(due, default=None)
