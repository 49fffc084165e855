"""The collector as a separate process, the way operators run it: `serve` on a unix
socket with embedded chDB, probes registered through the CLI, rows counted by a
separate process (chDB lets one process open a database path at a time)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

COLLECTOR = [sys.executable, "-m", "blockwatch.collector"]

_COUNT = """
import json, sys, clickhouse_connect
db = clickhouse_connect.get_client(dsn=sys.argv[1])
rows = db.query("SELECT count(), uniqExact(measurement_id) FROM blockwatch.measurements")
ids = db.query("SELECT DISTINCT lower(hex(measurement_id)) FROM blockwatch.measurements")
total, unique = rows.result_rows[0]
print(json.dumps({"rows": total, "unique": unique, "ids": [r[0] for r in ids.result_rows]}))
"""


class CollectorProcess:
    def __init__(self, root: Path) -> None:
        self.data = root / "collector"
        self.socket = self.data / "collector.sock"
        self.log = root / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        result = subprocess.run([*COLLECTOR, *args, "--data-dir", str(self.data)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise AssertionError(f"blockwatch-collector {args[:2]} failed:\n{result.stderr}")
        return result.stdout

    def add_probe(self, name: str, country: str, *extra: str) -> str:
        """Register a probe; returns its token (printed once, last word of the output)."""
        return self.cli("probes", "add", name, "--country", country, *extra).split()[-1]

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [*COLLECTOR, "serve", "--data-dir", str(self.data), "--unix", str(self.socket)],
            stderr=self.log.open("ab"))
        deadline = time.monotonic() + 60
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("collector did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        self.proc = None

    def stored(self) -> dict[str, object]:
        """Rows, distinct measurement ids and the ids themselves (collector stopped)."""
        assert self.proc is None, "stop the collector first: it owns the database"
        result = subprocess.run([sys.executable, "-c", _COUNT, f"chdb://{self.data / 'db'}"],
                                capture_output=True, text=True, check=True)
        return dict(json.loads(result.stdout))
