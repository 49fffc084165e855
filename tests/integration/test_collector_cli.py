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


# -- issue 11: clear errors, strict inputs, every flag works ---------------------------------

def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """What an operator must see for bad input: a non-zero exit and one line naming it."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


ORDER = """\
orders:
  - id: it-test-2024
    authority: Tribunale di Milano
    issued: {issued}
    deadline_days: 30
    countries: [IT]
    intermediaries: [{intermediary}]
    sites:
      - name: kickasstorrents
        domains: [kickasstorrents.to]
        {mirrors}:
          - domain: kickasstorrents.cr
            added: 2024-10-01
"""


def _order(tmp_path: Path, issued: str = "2024-07-15", intermediary: str = "cloudflare",
           mirrors: str = "mirrors") -> Path:
    path = tmp_path / "order.yaml"
    path.write_text(ORDER.format(issued=issued, intermediary=intermediary, mirrors=mirrors))
    return path


def _imported(tmp_path: Path) -> list[dict[str, object]]:
    listing = collector(tmp_path, "targets", "list", "--format", "json")
    assert listing.returncode == 0, listing.stderr
    orders: list[dict[str, object]] = json.loads(listing.stdout)["orders"]
    return orders


def test_order_with_an_impossible_date_is_one_line_and_imports_nothing(tmp_path: Path) -> None:
    result = collector(tmp_path, "targets", "import", str(_order(tmp_path, "2024-13-45")))
    _one_line_error(result, "orders[0].issued", "2024-13-45", "not a date")
    assert _imported(tmp_path) == []


def test_unknown_key_in_an_order_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    result = collector(tmp_path, "targets", "import", str(_order(tmp_path, mirrors="mirror")))
    _one_line_error(result, "orders[0].sites[0]", "'mirror'", "mirrors")
    assert _imported(tmp_path) == []
    bad_top = tmp_path / "top.yaml"
    bad_top.write_text("order:\n  - id: x\n")
    _one_line_error(collector(tmp_path, "targets", "import", str(bad_top)), "'order'", "orders")


def test_unknown_intermediary_is_imported_with_a_warning_naming_known_names(
        tmp_path: Path) -> None:
    order = _order(tmp_path, intermediary="cloudfare")
    result = collector(tmp_path, "targets", "import", str(order))
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "'cloudfare'" in result.stderr
    assert "did you mean 'cloudflare'" in result.stderr
    assert "quad9" in result.stderr and "google" in result.stderr  # the known names
    assert [o["intermediaries"] for o in _imported(tmp_path)] == [["cloudfare"]]
    clean = collector(tmp_path, "targets", "import", str(_order(tmp_path)))
    assert clean.returncode == 0 and "warning" not in clean.stderr, clean.stderr


def test_serve_refuses_a_bad_log_level_in_one_line(tmp_path: Path) -> None:
    result = collector(tmp_path, "serve", "--unix", str(tmp_path / "c.sock"),
                       "--log-level", "verbose")
    _one_line_error(result, "--log-level", "verbose", "debug")
    assert not (tmp_path / "c.sock").exists()


def test_serve_refuses_a_bad_metrics_address_before_creating_anything(tmp_path: Path) -> None:
    sock = tmp_path / "c.sock"
    result = collector(tmp_path, "serve", "--unix", str(sock), "--metrics", "999.1.1.1:99999")
    _one_line_error(result, "metrics", "999.1.1.1:99999")
    assert not sock.exists()
    assert not (tmp_path / "db").exists()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = collector(tmp_path, "serve", "--unix", str(sock), "--metrics", address)
    _one_line_error(result, "metrics", address, "in use")
    assert not sock.exists()


def test_probes_list_honours_every_format(tmp_path: Path) -> None:
    assert collector(tmp_path, "probes", "add", "it-1", "--country", "IT").returncode == 0
    assert collector(tmp_path, "analysts", "add", "alice").returncode == 0
    for what, name in (("probes", "it-1"), ("analysts", "alice")):
        csv_out = collector(tmp_path, what, "list", "--format", "csv")
        assert csv_out.returncode == 0, csv_out.stderr
        header, row = csv_out.stdout.splitlines()[:2]
        assert header.startswith("name,country,asn,control,active,created_at")
        assert row.startswith(f"{name},")
        created = json.loads(collector(tmp_path, what, "list", "--format", "json").stdout)[0]
        assert str(created["created_at"]).endswith("Z")  # RFC 3339 UTC, the one form
    assert collector(tmp_path, "targets", "import", str(EXAMPLES / "milan-cloudflare.yaml")
                     ).returncode == 0
    targets_csv = collector(tmp_path, "targets", "list", "--format", "csv").stdout.splitlines()
    assert targets_csv[0].startswith("order_id,authority,title,issued,deadline")
    assert any("kickasstorrents.cr" in line and ",mirror," in line for line in targets_csv)
    _one_line_error(collector(tmp_path, "probes", "list", "--format", "xml"), "--format", "xml")


def test_version_and_short_config_flag(tmp_path: Path) -> None:
    version = subprocess.run([sys.executable, "-m", "blockwatch.collector", "--version"],
                             capture_output=True, text=True, check=False)
    assert version.returncode == 0 and version.stdout.strip()[0].isdigit(), version
    config = tmp_path / "collector.toml"
    config.write_text(f'data_dir = "{tmp_path / "d"}"\n')
    added = subprocess.run([sys.executable, "-m", "blockwatch.collector", "analysts", "add",
                            "bob", "-c", str(config)], capture_output=True, text=True,
                           check=False)
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "d" / "registry.db").exists()


def test_non_loopback_plaintext_and_metrics_warn_loudly(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "blockwatch.collector", "serve", "--data-dir", str(tmp_path),
         "--listen", f"0.0.0.0:{_free_port()}", "--insecure", "--metrics", f"0.0.0.0:{port}",
         "--unix", str(tmp_path / "c.sock")],
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:
            seen.append(line)
            if "event=serving" in line:
                break
        text = "".join(seen)
        assert "level=warning" in text and "plaintext" in text and "0.0.0.0" in text, text
        assert "metrics" in text and f"0.0.0.0:{port}" in text, text
    finally:
        proc.terminate()
        proc.wait(timeout=60)
