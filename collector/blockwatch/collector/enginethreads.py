"""The embedded engine's merge threads run below ingest's CPU priority.

The lanes lower their own query threads (lane.py, os_thread_priority), but
ClickHouse runs merges and mutations on its own executor threads at the
process's priority. At 50k measurements/s on 2 cores, while classification
wrote large chunks, those threads took up to a whole core beside ingest, and
ingest's inserts spent as long waiting for a CPU as running (per-thread
schedstat): the acks' slow bursts. Merges are background work like
classification, so they get the background lane's nice value and share with it
what ingest leaves.

Linux schedules threads as tasks, each with its own nice value; raising one's
own threads' nice value needs no privilege. ClickHouse names the executor's
threads (their Linux `comm`), and they live as long as the engine, so the
collector lowers them at start and again at every housekeeping tick (an
executor grown later by configuration gets its new threads lowered then).
With a ClickHouse server (not embedded) the process holds no such thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MERGE_THREAD_NAME = "MergeMutate"   # ClickHouse's MergeTree merge/mutation executor
_TASKS = Path("/proc/self/task")
_NICE_FIELD = 16   # /proc/<pid>/task/<tid>/stat: field 19, counted after "(comm) "


@dataclass(frozen=True, slots=True)
class OsThread:
    tid: int
    name: str
    nice: int


def parse_stat(tid: int, stat: str) -> OsThread:
    """A task's stat line; the name sits between the first "(" and the last
    ")" (it may itself hold spaces or parentheses)."""
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return OsThread(tid, name, int(fields[_NICE_FIELD]))


def to_lower(threads: Iterable[OsThread], *, name: str, nice: int) -> list[int]:
    """The threads called `name` still above `nice` (a lower nice value)."""
    return [t.tid for t in threads if t.name == name and t.nice < nice]


def threads(tasks: Path = _TASKS) -> list[OsThread]:
    """This process's threads; one that ends while being read is skipped."""
    found = []
    for entry in tasks.iterdir():
        try:
            found.append(parse_stat(int(entry.name), (entry / "stat").read_text()))
        except (OSError, ValueError, IndexError):
            continue
    return found


class MergeThreads:
    """Lowers the engine's merge threads to `nice`, as often as asked; stops
    trying (one warning) if the system refuses."""

    def __init__(self, nice: int) -> None:
        self.nice = nice
        self.lowered = 0          # threads lowered so far
        self._refused = False

    def lower(self) -> int:
        """Lower the merge threads still above `nice`; returns how many now."""
        if self._refused:
            return 0
        now = 0
        for tid in to_lower(threads(), name=MERGE_THREAD_NAME, nice=self.nice):
            try:
                os.setpriority(os.PRIO_PROCESS, tid, self.nice)
            except ProcessLookupError:   # it ended meanwhile
                continue
            except OSError as exc:   # not permitted (e.g. a seccomp filter): run as is
                self._refused = True
                log.warning("event=merge_threads_not_lowered nice=%d error=%r", self.nice, exc)
                break
            now += 1
        self.lowered += now
        return now
