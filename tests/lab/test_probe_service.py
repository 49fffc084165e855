"""`blockwatch-probe run` and `check` as an operator uses them."""

from __future__ import annotations

import json
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
        try:
            return int(db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])
        except sqlite3.OperationalError:   # the file exists, its schema not yet
            return 0


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
    assert ("✓ resolver isp (udp 127.0.0.3:53): asked '. NS' (the root's name servers): "
            "NOERROR") in result.stdout
    assert "✓ resolver isp-dot (dot 127.0.0.3:853)" in result.stdout


def test_check_fails_on_a_dead_resolver(lab: Lab) -> None:
    result = run_probe("check", "-r", f"isp=udp:{ISP_ADDR}", "-r", "dead=tcp:127.0.0.1:9",
                       check=False)
    assert result.returncode == 1
    dead = next(line for line in result.stdout.splitlines() if "resolver dead" in line)
    assert dead.startswith("✗ resolver dead (tcp 127.0.0.1:9): asked '. NS'"), dead
    assert ": connection_refused: " in dead, dead


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


# -- issue 11: inputs as a user types them, one family of CLIs ------------------------------

def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_a_url_is_measured_by_its_host_and_says_so(lab: Lab) -> None:
    result = run_probe("once", "--format", "json", "-r", f"isp=udp:{ISP_ADDR}",
                       "https://Thepiratebay.org/some/page?q=1", "limetorrents.pro")
    observed = {json.loads(line)["domain"] for line in result.stdout.splitlines()}
    assert {"thepiratebay.org", "limetorrents.pro"} <= observed
    assert "https://Thepiratebay.org/some/page?q=1" not in observed
    assert "measuring its host thepiratebay.org" in result.stderr


def test_a_bad_domain_is_refused_for_the_right_reason() -> None:
    line = _one_line_error(run_probe("once", "-r", "isp=udp:127.0.0.3", "bad domain!",
                                     check=False), "'bad domain!'")
    assert "single label" not in line
    assert "' '" in line and "'!'" in line


def test_no_names_says_where_names_come_from() -> None:
    _one_line_error(run_probe("once", "-r", "isp=udp:127.0.0.3", check=False),
                    "give names, [targets] in the config, or a collector")


def test_version_flag_and_resolver_names(isolated: None) -> None:
    version = run_probe("--version")
    assert version.stdout.strip()[0].isdigit()
    # --resolver NAME picks a configured (here: built-in) resolver; NAME=SPEC defines one
    unknown = run_probe("once", "-r", "goggle", "example-control.org", check=False)
    _one_line_error(unknown, "'goggle'", "google", "cloudflare")
    picked = run_probe("once", "--format", "json", "-r", "google", "-r",
                       "isp=udp:127.0.0.1:9", "example-control.org")
    names = {json.loads(line)["resolver"]["name"] for line in picked.stdout.splitlines()}
    assert names == {"google", "isp"}


def test_run_logs_in_the_shared_key_value_and_json_formats(lab: Lab, tmp_path: Path) -> None:
    config = write_config(tmp_path / "probe.toml", [{"name": "isp", "address": ISP_ADDR}],
                          name="it-log", spool={"path": str(tmp_path / "spool.db")},
                          targets={"domains": ["example-control.org"]}, identity_checks=False)
    kv = run_probe("run", "-c", str(config), "--rounds", "1")
    lines = [line for line in kv.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("ts=") and " level=" in line for line in lines), lines
    assert lines[0].split()[0].endswith("Z")
    as_json = run_probe("run", "-c", str(config), "--rounds", "1", "--log-format", "json")
    records = [json.loads(line) for line in as_json.stderr.splitlines() if line.strip()]
    assert records and all(r["ts"].endswith("Z") and r["level"] for r in records)
    _one_line_error(run_probe("run", "-c", str(config), "--log-level", "verbose", check=False),
                    "--log-level", "verbose")


def test_flags_that_would_change_nothing_are_refused(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    _one_line_error(run_probe("once", "-r", "isp=udp:127.0.0.3", "--ca-file", str(ca),
                              "example-control.org", check=False), "--ca-file", "DoT or DoH")
    _one_line_error(run_probe("once", "-r", "isp=udp:127.0.0.3", "--upload-timeout", "5",
                              "example-control.org", check=False),
                    "--upload-timeout", "no collector")
