"""Processes for the reliability suite: a collector (through collector_shim) that
can be killed and restarted on the same data, probes run as `blockwatch-probe
run`, spool accounting, and a count of what ClickHouse stored."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.collector_process import CollectorProcess
from tests.lab.probe_cli import write_config

REPO = Path(__file__).resolve().parents[2]
SHIM = [sys.executable, "-m", "tests.reliability.collector_shim"]
PROBE = [sys.executable, "-m", "blockwatch.probe"]


class Collector(CollectorProcess):
    """The collector subprocess; kill -9 and restart on the same database."""

    def __init__(self, root: Path, *, tcp: str = "") -> None:
        super().__init__(root)
        self.tcp = tcp
        self.insert_log = root / "inserts.log"
        self.starts: list[float] = []
        self.ack_delay_s = 0.0

    def start(self, *, ack_delay_s: float = 0.0, timeout_s: float = 60.0) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)   # a killed collector leaves its socket file
        log_size = self.log.stat().st_size if self.log.exists() else 0
        env = dict(os.environ, BLOCKWATCH_TEST_INSERT_LOG=str(self.insert_log),
                   BLOCKWATCH_TEST_ACK_DELAY_S=str(ack_delay_s))
        self.ack_delay_s = ack_delay_s
        listen = ["--listen", self.tcp] if self.tcp else []
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [*SHIM, "serve", "--data-dir", str(self.data), "--unix", str(self.socket), *listen],
            stderr=self.log.open("ab"), cwd=REPO, env=env)
        while b"event=serving" not in self._log_since(log_size):
            if self.proc.poll() is not None or time.monotonic() - began > timeout_s:
                raise AssertionError("collector did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.02)
        self.starts.append(time.monotonic() - began)

    def _log_since(self, offset: int) -> bytes:
        with self.log.open("rb") as f:
            f.seek(offset)
            return f.read()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def inserts(self) -> list[str]:
        """One line per group insert that returned: `probe:batch ...`."""
        if not self.insert_log.exists():
            return []
        return self.insert_log.read_text().splitlines()


def count_stored(collector: CollectorProcess) -> dict[str, Any]:
    stored = collector.stored()
    return {"rows": int(stored["rows"]), "unique": int(stored["unique"]),  # type: ignore[call-overload]
            "ids": {bytes.fromhex(i) for i in stored["ids"]}}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SpoolCount:
    recorded: int     # ever committed: sqlite_sequence
    pending: int      # still waiting for an ack
    rejected: int
    dropped: int
    batch_ids: frozenset[str] = field(default_factory=frozenset)
    oldest: int = 0   # seq of the oldest measurement still waiting (0: none)
    bytes: int = 0    # payload bytes waiting


def spool_count(path: Path) -> SpoolCount:
    if not path.exists():
        return SpoolCount(0, 0, 0, 0)
    with sqlite3.connect(path, timeout=10) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        if "measurements" not in tables:
            return SpoolCount(0, 0, 0, 0)
        seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'measurements'"
                         ).fetchone()
        pending = db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
        rejected = db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
        dropped = db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        batches = {r[0] for r in db.execute(
            "SELECT DISTINCT batch_id FROM measurements WHERE batch_id IS NOT NULL")}
        oldest, size = db.execute(
            "SELECT COALESCE(MIN(seq), 0), COALESCE(SUM(length(payload)), 0) FROM measurements"
        ).fetchone()
    return SpoolCount(int(seq[0]) if seq else 0, int(pending), int(rejected),
                      int(dropped[0]) if dropped else 0, frozenset(batches), int(oldest),
                      int(size))


class Probe:
    """`blockwatch-probe run` against the lab resolvers, uploading to `address`."""

    def __init__(self, root: Path, name: str, token: str, address: str, *,
                 resolvers: list[dict[str, Any]], domains: list[str], **sections: Any) -> None:
        self.name = name
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.spool = root / "spool.db"
        self.log = root / "probe.log"
        credentials = root / "token"
        credentials.write_text(token)
        collector = {"addresses": [address], "tls": False, "batch_size": 5, "window": 2,
                     "timeout_s": 2}
        collector.update(sections.pop("collector", {}))
        self.config = write_config(
            root / "probe.toml", resolvers, name=name, credentials_file=str(credentials),
            identity_checks=False, collector=collector,
            spool={"path": str(self.spool), **sections.pop("spool", {})},
            schedule={"interval_s": 1, "jitter_s": 0},
            limits={"timeout_s": 0.5, "listen_window_s": 0.02, "qps": 1000},
            targets={"domains": domains}, **sections)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen([*PROBE, "run", "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("ab"))
        self.starts += 1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def drain(self, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        """One more round with `once`, then deliver everything left in the spool."""
        return subprocess.run([*PROBE, "once", "-c", str(self.config), "--upload-timeout",
                               str(timeout_s)], capture_output=True, text=True,
                              timeout=timeout_s + 60, check=False)

    def counts(self) -> SpoolCount:
        return spool_count(self.spool)
