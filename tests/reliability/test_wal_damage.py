"""A damaged write-ahead log at restart: SQLite keeps the frames before the first bad
checksum and drops the rest without an error. The spool must say how many committed
measurements went, keep the rest, and go on.

Real files: a child process commits measurements and is killed with SIGKILL (its
WAL is not checkpointed), then the WAL's tail is cut or zeroed as a power cut or a
bad disk would leave it. The truth is counted on an undamaged copy.
"""

from __future__ import annotations

import logging
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from blockwatch.probe.spool import Spool
from tests.reliability.conftest import Figures

_WRITER = """
import os, signal, sys
from pathlib import Path
from blockwatch.probe.spool import Spool
spool = Spool(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    spool.add([i.to_bytes(4, "big") * 50 for _ in range(10)])   # one commit of 10
print("committed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _committed(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])


def _truncate_half(wal: Path) -> None:
    with wal.open("r+b") as f:
        f.truncate(wal.stat().st_size // 2)


def _zero_tail(wal: Path) -> None:
    size = wal.stat().st_size
    with wal.open("r+b") as f:
        f.seek(size * 2 // 3)
        f.write(b"\0" * (size - size * 2 // 3))


def _cut_mid_frame(wal: Path) -> None:
    with wal.open("r+b") as f:
        f.truncate(wal.stat().st_size - 1000)


CASES: dict[str, Callable[[Path], None]] = {
    "truncated-half": _truncate_half, "zeroed-tail": _zero_tail, "cut-mid-frame": _cut_mid_frame}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_wal_tail_is_counted_loudly_and_the_rest_kept(
        case: str, tmp_path: Path, figures: Figures, caplog: pytest.LogCaptureFixture) -> None:
    spool = tmp_path / "spool.db"
    commits = 15       # under one WAL checkpoint (100 pages): the tail is live
    done = subprocess.run([sys.executable, "-c", _WRITER, str(spool), str(commits)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -signal.SIGKILL and "committed" in done.stdout, done.stderr
    wal = spool.with_name("spool.db-wal")
    assert wal.stat().st_size > 0, "the WAL was checkpointed away: nothing to damage"
    truth = tmp_path / "truth"
    truth.mkdir()
    for name in ("spool.db", "spool.db-wal"):
        shutil.copy(tmp_path / name, truth / name)
    committed = _committed(truth / "spool.db")
    assert committed == commits * 10

    CASES[case](wal)
    with caplog.at_level(logging.ERROR), Spool(spool) as reopened:
        kept = reopened.pending()
        lost = reopened.stats().lost
        batch = reopened.next_batch(10_000)
        reopened.add([b"after"])                 # the spool goes on
        assert reopened.pending() == kept + 1
    assert 0 < kept < committed, "this damage lost nothing: the case proves nothing"
    assert lost == committed - kept
    assert f"lost {lost} committed measurements" in caplog.text
    assert batch is not None and batch.size == kept
    with Spool(spool) as again:                   # said once, not at every start
        assert again.stats().lost == lost
    assert caplog.text.count("SPOOL DAMAGE") == 1
    figures.record("wal_damage", **{case: {"committed": committed, "readable": kept,
                                           "detected_lost": lost,
                                           "silent": committed - kept - lost}})
