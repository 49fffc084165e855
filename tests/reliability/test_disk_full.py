"""The disk under the spool fills up while `blockwatch-probe run` measures against
the lab resolvers: a real 2 MB tmpfs, mostly taken by another file.

What must hold (issue 10, item 2): no round claims measurements the spool never
committed; a full disk stops new rounds with one clear error naming the path,
without a hot retry on the event loop; the upload keeps delivering what is
committed; rounds resume when space returns; and every measurement ever
committed reaches the collector exactly once, SIGTERM included.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.world import Lab
from tests.reliability.conftest import Figures
from tests.reliability.harness import Collector, Probe, count_stored
from tests.reliability.test_crash_cycles import RESOLVERS

DOMAINS = [f"n{i}.example-control.org" for i in range(30)]
FREE_AT_START = 900 << 10     # room left beside the ballast: the reserve and a little more
FULL = "DISK FULL: spool"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    st = os.statvfs(disk)
    ballast = disk / "ballast"
    with ballast.open("wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return ballast


def _wait(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _claimed(log: str) -> int:
    """Measurements the probe's round lines say were committed to the spool."""
    return sum(int(n) for n in re.findall(r"(\d+) committed to the spool", log))


def test_disk_full_stops_rounds_loudly_delivers_and_recovers(
        lab: Lab, small_disk: Path, tmp_path: Path, figures: Figures) -> None:
    collector = Collector(tmp_path / "collector")
    token = collector.add_probe("full-it-1", "IT")
    probe = Probe(tmp_path / "probe", "full-it-1", token, f"unix:{collector.socket}",
                  resolvers=RESOLVERS, domains=DOMAINS,
                  spool={"path": str(small_disk / "spool.db")})
    probe.spool = small_disk / "spool.db"       # what probe.counts() reads
    ballast = _fill(small_disk, FREE_AT_START)
    try:
        probe.start()
        assert probe.proc is not None
        _wait(lambda: FULL in probe.log.read_text(), 90, "the disk never filled")
        time.sleep(1.0)      # the round under way stops; what it held is kept
        log = probe.log.read_text()
        rounds_at_full = log.count("measurements in")
        cpu_before = _cpu_s(probe.proc.pid)
        time.sleep(4.0)      # several schedule intervals (1 s) with the disk full
        cpu_full = _cpu_s(probe.proc.pid) - cpu_before
        log = probe.log.read_text()
        assert log.count("measurements in") == rounds_at_full, "rounds went on on a full disk"
        assert log.count(FULL) == 1 and str(small_disk / "spool.db") in log
        assert log.count("no new round:") == 1          # said once, not every interval
        assert cpu_full < 1.0, f"{cpu_full:.2f} s of CPU in 4 s on a full disk: a hot retry"
        full = probe.counts()
        assert _claimed(log) <= full.recorded            # nothing claimed that is not on disk

        # The collector comes up with the disk still full: what is committed goes out.
        collector.start()
        _wait(lambda: probe.counts().pending < full.pending, 60,
              "nothing was delivered while the disk was full")
        # Space returns: rounds resume.
        ballast.unlink()
        _wait(lambda: probe.log.read_text().count("measurements in") > rounds_at_full, 60,
              "rounds did not resume when space returned")
        assert "disk space is back" in probe.log.read_text()
        probe.stop()                                      # SIGTERM
        stopped = probe.log.read_text()
        assert "LOST" not in stopped, stopped[-2000:]
        result = probe.drain(60)
        assert result.returncode == 0 and "0 left in the spool" in result.stderr, \
            result.stderr[-2000:]
    finally:
        probe.kill()
        collector.stop()
        with contextlib.suppress(FileNotFoundError):
            ballast.unlink()
    stored = count_stored(collector)
    final = probe.counts()
    log = probe.log.read_text()
    figures.record(
        "disk_full", tmpfs_bytes=2 << 20, free_at_start=FREE_AT_START,
        rounds_before_full=rounds_at_full, cpu_s_in_4s_full=round(cpu_full, 2),
        disk_full_log_lines=log.count(FULL), recorded=final.recorded,
        claimed_by_rounds=_claimed(log), stored_rows=stored["rows"],
        stored_unique=stored["unique"], duplicated=stored["rows"] - stored["unique"],
        lost=final.recorded - stored["unique"])
    assert final.pending == final.rejected == final.dropped == 0
    assert stored["rows"] == stored["unique"] == final.recorded
