"""`blockwatch-probe run` and `check` as an operator uses them."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab.probe_cli import run_probe, write_config
from tests.lab.world import GOOGLE_ADDR, ISP_ADDR, TLS_NAME, Lab

pytestmark = pytest.mark.lab


def _spooled(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])


def test_run_measures_on_schedule_and_stops_cleanly_on_sigterm(lab: Lab, tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    names = [f"n{i}.example-control.org" for i in range(20)]
    config = write_config(
        tmp_path / "probe.toml",
        [{"name": "isp", "address": ISP_ADDR}, {"name": "google", "address": GOOGLE_ADDR}],
        name="it-lab-run", spool={"path": str(spool)}, targets={"domains": names},
        schedule={"interval_s": 1, "jitter_s": 0}, identity_checks=False,
        limits={"timeout_s": 1, "listen_window_s": 0.05},
    )
    per_round = 2 * len(names) * 2
    probe = subprocess.Popen([sys.executable, "-m", "blockwatch.probe", "run", "-c", str(config)],
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while _spooled(spool) < 2 * per_round:  # at least two rounds on the schedule
        assert probe.poll() is None, probe.stderr.read() if probe.stderr else ""
        assert time.monotonic() < deadline, "two rounds did not happen in 30 s"
        time.sleep(0.1)
    probe.send_signal(signal.SIGTERM)
    _, stderr = probe.communicate(timeout=15)
    assert probe.returncode == 0, stderr
    assert "stopped after" in stderr
    # whole rounds only: a round cut short by the signal records nothing half-done
    stored = _spooled(spool)
    assert stored >= 2 * per_round
    assert "measurements wait in the spool" in stderr and str(stored) in stderr


def test_check_passes_against_working_resolvers(lab: Lab) -> None:
    result = run_probe("check", "-r", f"isp=udp:{ISP_ADDR}", "-r",
                       f"isp-dot=dot:{ISP_ADDR}@{TLS_NAME}", "--ca-file", str(lab.ca.ca_path))
    assert "✓ resolver isp (udp 127.0.0.3:53): NOERROR" in result.stdout
    assert "✓ resolver isp-dot (dot 127.0.0.3:853)" in result.stdout


def test_check_fails_on_a_dead_resolver(lab: Lab) -> None:
    result = run_probe("check", "-r", f"isp=udp:{ISP_ADDR}", "-r", "dead=tcp:127.0.0.1:9",
                       check=False)
    assert result.returncode == 1
    assert "✗ resolver dead (tcp 127.0.0.1:9): connection_refused" in result.stdout


def test_bad_config_exits_2_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "probe.toml"
    config.write_text('[limits]\nconcurrency = 0\n')
    result = run_probe("check", "-c", str(config), check=False)
    assert result.returncode == 2
    assert "limits.concurrency: 0 is not in 1..8192" in result.stderr


def test_config_only_check_validates_without_sending(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("bw_secret\n")
    config = write_config(tmp_path / "probe.toml", [{"name": "isp", "address": "127.0.0.3"}],
                          name="it-1", credentials_file=str(token),
                          collector={"addresses": ["unix:/nonexistent.sock"], "tls": False})
    result = run_probe("check", "--config-only", "-c", str(config))
    assert "config valid (probe 'it-1')" in result.stdout
    token.write_text("\n")
    result = run_probe("check", "--config-only", "-c", str(config), check=False)
    assert result.returncode == 2 and "holds no token" in result.stderr


def test_unknown_resolver_transport_is_a_usage_error() -> None:
    result = run_probe("once", "-r", "x=quic:127.0.0.3", "example-control.org", check=False)
    assert result.returncode == 2
    assert "expected NAME=udp|tcp|dot|doh:ENDPOINT" in result.stderr


def test_invalid_domain_is_refused_before_measuring() -> None:
    result = run_probe("once", "-r", "isp=udp:127.0.0.3", "bad..name", check=False)
    assert result.returncode == 2
    assert "bad..name" in result.stderr
