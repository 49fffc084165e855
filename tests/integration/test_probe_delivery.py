"""Every measurement a probe accepted reaches the receiving side exactly once,
even when the probe is killed with SIGKILL in the middle of an upload."""

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
from tests.lab.probe_cli import run_probe, write_config
from tests.lab.world import GOOGLE_ADDR, ISP_ADDR, QUAD9_ADDR, Lab

pytestmark = pytest.mark.lab
TOKEN = "test-token-0123456789"
NAMES = [f"n{i}.example-control.org" for i in range(10)] + [
    "kickasstorrents.to", "limetorrents.pro", "example-control.org"]


class ReceiverProcess:
    def __init__(self, root: Path, ack_delay: float) -> None:
        self.socket = root / "collector.sock"
        self.db_path = root / "received.db"
        self.ack_delay = ack_delay
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.receiver", "--unix", str(self.socket),
             "--db", str(self.db_path), "--token", TOKEN, "--ack-delay", str(self.ack_delay)])
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None
            self.socket.unlink(missing_ok=True)

    def ids(self) -> list[bytes]:
        if not self.db_path.exists():
            return []
        with sqlite3.connect(self.db_path) as db:
            return [r[0] for r in db.execute("SELECT measurement_id FROM measurements")]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    process = ReceiverProcess(tmp_path, ack_delay=0.25)
    yield process
    process.stop()


def spooled_ids(spool: Path) -> set[bytes]:
    with sqlite3.connect(spool) as db:
        return {decode_measurement(r[0]).measurement_id
                for r in db.execute("SELECT payload FROM measurements")}


def test_kill_9_during_upload_loses_and_duplicates_nothing(
        lab: Lab, receiver: ReceiverProcess, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    spool = tmp_path / "spool.db"
    config = write_config(
        tmp_path / "probe.toml",
        [{"name": "isp", "address": ISP_ADDR}, {"name": "quad9", "address": QUAD9_ADDR},
         {"name": "google", "address": GOOGLE_ADDR}],
        name="it-lab-1", credentials_file=str(token),
        collector={"addresses": [f"unix:{receiver.socket}"], "tls": False, "batch_size": 5,
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

    # Collector up, slow to ack; kill -9 the probe in the middle of the upload.
    receiver.start()
    probe = subprocess.Popen([sys.executable, "-m", "blockwatch.probe", "once", "-c",
                              str(config), "--format", "json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    # Kill once round 2 is fully on disk and part of it is delivered: the probe
    # is then in the middle of the upload with batches in flight.
    while len(receiver.ids()) < 20 or len(set(receiver.ids()) | spooled_ids(spool)) < 2 * per_round:
        assert time.monotonic() < deadline, "upload never started"
        assert probe.poll() is None, "probe finished before it could be killed"
        time.sleep(0.02)
    os.kill(probe.pid, signal.SIGKILL)
    probe.wait()
    received = receiver.ids()
    left = spooled_ids(spool)
    assert 20 <= len(received) < 2 * per_round
    assert left, "the kill came too late to test anything"
    assert first_round <= left | set(received)

    # Restart: the probe measures another round and delivers everything left.
    result = run_probe("once", "-c", str(config), "--upload-timeout", "60")
    assert "0 left in the spool" in result.stderr
    assert spooled_ids(spool) == set()
    final = receiver.ids()
    assert len(final) == len(set(final)), "a measurement was stored twice"
    assert first_round <= set(final)
    assert len(final) == 3 * per_round  # round 1, the killed round 2, round 3
