"""Which of the process's threads the collector lowers: the engine's merge
threads (by their Linux name) still above the background nice value, read from
/proc's stat lines, whose name may hold spaces and parentheses."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from blockwatch.collector.enginethreads import (
    MERGE_THREAD_NAME,
    OsThread,
    parse_stat,
    threads,
    to_lower,
)


def _stat(tid: int, name: str, nice: int) -> str:
    # fields 3-52 of proc_pid_stat(5); priority (18) is 20 + nice, nice is 19
    fields = ["S", "1", "1", "0", "0", "-1", "4194368", "10", "0", "0", "0", "5", "3", "0",
              "0", str(20 + nice), str(nice), "9", "0", "1000", "4096", "100"]
    return f"{tid} ({name}) " + " ".join(fields + ["0"] * 28) + "\n"


def test_a_stat_line_gives_name_and_nice_even_with_odd_names() -> None:
    assert parse_stat(7, _stat(7, MERGE_THREAD_NAME, 0)) == OsThread(7, "MergeMutate", 0)
    assert parse_stat(8, _stat(8, "a) (b c", -5)) == OsThread(8, "a) (b c", -5)
    assert parse_stat(9, _stat(9, "x", 19)).nice == 19


def test_only_merge_threads_above_the_nice_value_are_lowered() -> None:
    found = [OsThread(1, "MergeMutate", 0), OsThread(2, "MergeMutate", 10),
             OsThread(3, "MergeMutate", 15), OsThread(4, "python", 0),
             OsThread(5, "QueryPipelineEx", 0), OsThread(6, "MergeMutate", -3)]
    assert to_lower(found, name=MERGE_THREAD_NAME, nice=10) == [1, 6]
    assert to_lower(found, name=MERGE_THREAD_NAME, nice=19) == [1, 2, 3, 6]


def test_threads_are_read_from_the_task_directory(tmp_path: Path) -> None:
    for tid, name, nice in ((101, "MergeMutate", 0), (102, "python", 0)):
        (tmp_path / str(tid)).mkdir()
        (tmp_path / str(tid) / "stat").write_text(_stat(tid, name, nice))
    (tmp_path / "103").mkdir()   # a thread that ended while being read: no stat
    assert sorted(threads(tmp_path), key=lambda t: t.tid) == [
        OsThread(101, "MergeMutate", 0), OsThread(102, "python", 0)]


def test_the_nice_field_is_the_one_the_kernel_reports() -> None:
    tid = threading.get_native_id()
    mine = parse_stat(tid, Path(f"/proc/self/task/{tid}/stat").read_text())
    assert mine.nice == os.getpriority(os.PRIO_PROCESS, tid)
    assert mine in threads()
