"""`blockwatch-collector` as an operator types it: probes, targets, migrate, metrics."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from blockwatch.collector.registry import Registry
from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_measurement
from tests.integration.collector_harness import (
    chdb_dsn,
    drain,
    measurement,
    running,
    settings_for,
    uploader,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "collector/blockwatch/collector/examples"


def collector(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blockwatch.collector", *args,
                           "--data-dir", str(data)], capture_output=True, text=True, check=False)


def test_probe_registration_lifecycle(tmp_path: Path) -> None:
    added = collector(tmp_path, "probes", "add", "it-milano-1", "--country", "IT",
                      "--asn", "3269")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("bw_") and len(token) > 40
    assert "shown once" in added.stderr

    again = collector(tmp_path, "probes", "add", "it-milano-1", "--country", "IT")
    assert again.returncode != 0
    assert "already registered" in again.stderr and "--rotate" in again.stderr

    bad = collector(tmp_path, "probes", "add", "x-1", "--country", "XX")
    assert bad.returncode == 2 and "not an ISO 3166-1 alpha-2 code" in bad.stderr

    listing = json.loads(collector(tmp_path, "probes", "list", "--format", "json").stdout)
    assert [(p["name"], p["country"], p["asn"], p["active"]) for p in listing] == [
        ("it-milano-1", "IT", 3269, True)]
    # the registry stores a hash, never the token
    assert token.encode() not in (tmp_path / "registry.db").read_bytes()

    moved = collector(tmp_path, "probes", "update", "it-milano-1", "--asn", "1267",
                      "--control")
    assert moved.returncode == 0, moved.stderr
    listing = json.loads(collector(tmp_path, "probes", "list", "--format", "json").stdout)
    assert (listing[0]["asn"], listing[0]["control"], listing[0]["country"]) == (1267, True, "IT")
    assert collector(tmp_path, "probes", "update", "nobody", "--asn", "1").returncode != 0

    assert collector(tmp_path, "probes", "revoke", "it-milano-1").returncode == 0
    listing = json.loads(collector(tmp_path, "probes", "list", "--format", "json").stdout)
    assert listing[0]["active"] is False and listing[0]["revoked_at"]


def test_targets_import_is_idempotent_and_refuses_bad_rows(tmp_path: Path) -> None:
    for example in ("milan-cloudflare.yaml", "agcom-isp-list.csv"):
        first = collector(tmp_path, "targets", "import", str(EXAMPLES / example))
        assert first.returncode == 0, first.stderr
        again = collector(tmp_path, "targets", "import", str(EXAMPLES / example))
        assert again.returncode == 0
    before = collector(tmp_path, "targets", "list", "--format", "json").stdout
    assert "kickasstorrents.cr" in before

    bad = tmp_path / "bad.csv"
    rows = (EXAMPLES / "agcom-isp-list.csv").read_text().splitlines()
    rows.append(rows[-1].replace(rows[-1].split(",")[8], "bad..domain"))
    bad.write_text("\n".join(rows) + "\n")
    result = collector(tmp_path, "targets", "import", str(bad))
    assert result.returncode != 0
    assert f"row {len(rows)}" in result.stderr or f"line {len(rows)}" in result.stderr
    assert "bad..domain" in result.stderr
    # nothing half-imported: the orders are exactly as they were
    assert collector(tmp_path, "targets", "list", "--format", "json").stdout == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_endpoint_counts_batches(tmp_path_factory: pytest.TempPathFactory,
                                         tmp_path: Path) -> None:
    port = _free_port()

    async def scenario() -> str:
        settings = settings_for(chdb_dsn(tmp_path_factory), tmp_path,
                                metrics=f"127.0.0.1:{port}")
        async with running(settings) as service:
            token = Registry(service.settings.registry_path).add("probe", "m-1", country="DE")
            spool = Spool(tmp_path / "spool.db")
            spool.add([encode_measurement(measurement(i)) for i in range(30)])
            await drain(uploader(spool, f"unix:{service.settings.unix}", token, name="m-1",
                                 batch_size=10))
            return await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
                .read().decode())

    text = asyncio.run(scenario())
    assert 'blockwatch_batches_total{result="ack"} 3.0' in text or \
        'blockwatch_batches_total{result="stored"} 3.0' in text, text[:2000]
    assert 'blockwatch_measurements_total{result="stored"} 30.0' in text
    assert 'blockwatch_probe_last_seen_seconds{probe="m-1"}' in text
