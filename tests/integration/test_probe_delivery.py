"""Every measurement a probe accepted is stored exactly once by the collector, even
when the probe is killed with SIGKILL in the middle of an upload."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from blockwatch.probe.wire import decode_measurement
from tests.integration.collector_process import CollectorProcess
from tests.lab.probe_cli import run_probe, write_config
from tests.lab.world import GOOGLE_ADDR, ISP_ADDR, QUAD9_ADDR, Lab

pytestmark = pytest.mark.lab
NAMES = [f"n{i}.example-control.org" for i in range(10)] + [
    "kickasstorrents.to", "limetorrents.pro", "example-control.org"]


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    process = CollectorProcess(tmp_path)
    yield process
    process.stop()


def spooled_ids(spool: Path) -> set[bytes]:
    with sqlite3.connect(spool) as db:
        return {decode_measurement(r[0]).measurement_id
                for r in db.execute("SELECT payload FROM measurements")}


def acked(spool: Path) -> int:
    """Measurements the probe has seen acknowledged: they left the spool."""
    with sqlite3.connect(spool) as db:
        return int(db.execute("SELECT seq FROM sqlite_sequence").fetchone()[0]) - int(
            db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])


def test_kill_9_during_upload_loses_and_duplicates_nothing(
        lab: Lab, collector: CollectorProcess, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(collector.add_probe("it-lab-1", "IT", "--asn", "64500"))
    spool = tmp_path / "spool.db"
    config = write_config(
        tmp_path / "probe.toml",
        [{"name": "isp", "address": ISP_ADDR}, {"name": "quad9", "address": QUAD9_ADDR},
         {"name": "google", "address": GOOGLE_ADDR}],
        name="it-lab-1", credentials_file=str(token),
        collector={"addresses": [f"unix:{collector.socket}"], "tls": False, "batch_size": 5,
                   "window": 2, "timeout_s": 5},
        spool={"path": str(spool)},
        limits={"timeout_s": 1.0, "listen_window_s": 0.05, "qps": 500},
        targets={"domains": NAMES},
    )
    per_round = 3 * (len(NAMES) * 2 + 5)  # resolvers x (names x A/AAAA + identity checks)

    # Round 1 with the collector down: everything waits in the spool.
    result = run_probe("once", "-c", str(config), "--upload-timeout", "1", check=False)
    assert result.returncode == 1, result.stderr
    assert "left in the spool" in result.stderr
    first_round = spooled_ids(spool)
    assert len(first_round) == per_round

    # Collector up; kill -9 the probe once round 2 is on disk and the upload has begun.
    collector.start()
    probe = subprocess.Popen([sys.executable, "-m", "blockwatch.probe", "once", "-c",
                              str(config), "--format", "json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while acked(spool) < 10 or acked(spool) + len(spooled_ids(spool)) < 2 * per_round:
        assert time.monotonic() < deadline, "upload never started"
        assert probe.poll() is None, "probe finished before it could be killed"
        time.sleep(0.005)
    os.kill(probe.pid, signal.SIGKILL)
    probe.wait()
    left = spooled_ids(spool)
    assert left, "the kill came too late to test anything"

    # Restart: the probe measures another round and delivers everything left.
    result = run_probe("once", "-c", str(config), "--upload-timeout", "60")
    assert "0 left in the spool" in result.stderr
    assert spooled_ids(spool) == set()
    collector.stop()
    stored = collector.stored()
    assert stored["rows"] == stored["unique"] == 3 * per_round  # rounds 1, 2 (killed), 3
    stored_ids = {bytes.fromhex(i) for i in stored["ids"]}  # type: ignore[attr-defined]
    assert first_round | left <= stored_ids
