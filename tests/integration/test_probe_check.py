"""`blockwatch-probe check` as an operator meets it (issue 11, Operators): a collector
that is down fails within seconds in one line; a refused token says so; a resolver
answering REFUSED to what check asks is not reported healthy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.collector_process import CollectorProcess
from tests.lab.probe_cli import run_probe, write_config
from tests.lab.process import missing_programs
from tests.lab.unbound import Unbound

REFUSER = "127.0.0.77"
PORT = 5354


class _RefusingUnbound(Unbound):
    """A real unbound whose access control refuses every client: REFUSED to all."""

    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text()
        self.config_path.write_text(text.replace("127.0.0.0/8 allow", "127.0.0.0/8 refuse"))


@pytest.fixture(scope="module")
def refuser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if missing_programs("unbound"):
        pytest.skip("unbound is not installed")
    server = _RefusingUnbound(tmp_path_factory.mktemp("refuser"), REFUSER, "127.0.0.78@53",
                              port=PORT)
    server.start()
    try:
        yield REFUSER
    finally:
        server.stop()


def _config(tmp_path: Path, address: str, token: str = "bw_wrong") -> Path:
    credentials = tmp_path / "token"
    credentials.write_text(token)
    return write_config(
        tmp_path / "probe.toml", [{"name": "refuser", "address": REFUSER, "port": PORT}],
        name="check-1", credentials_file=str(credentials), identity_checks=False,
        collector={"addresses": [address], "tls": False, "timeout_s": 30},
        spool={"path": str(tmp_path / "spool.db")}, limits={"timeout_s": 2})


def test_a_resolver_answering_refused_is_not_healthy_and_says_what_was_asked(
        refuser: str, tmp_path: Path) -> None:
    result = run_probe("check", "-c", str(_config(tmp_path, "unix:/nonexistent.sock")),
                       check=False)
    line = next(x for x in result.stdout.splitlines() if "resolver refuser" in x)
    assert line.startswith("✗"), line
    assert "asked '. NS'" in line and "REFUSED" in line and "not healthy" in line
    assert result.returncode == 1


def test_check_with_the_collector_down_fails_within_seconds_in_one_line(
        refuser: str, tmp_path: Path) -> None:
    began = time.monotonic()
    result = run_probe("check", "-c", str(_config(tmp_path, f"unix:{tmp_path}/down.sock")),
                       check=False, timeout=60)
    elapsed = time.monotonic() - began
    assert result.returncode == 1
    assert elapsed < 15, f"check took {elapsed:.0f}s with the collector down"
    output = (result.stdout + result.stderr).splitlines()
    collector_lines = [x for x in output if x.startswith(("✓ collector", "✗ collector"))]
    assert len(collector_lines) == 1 and collector_lines[0].startswith("✗"), output
    assert "UNAVAILABLE" in collector_lines[0]
    assert sum("UNAVAILABLE" in x for x in output) == 1 and "retrying" not in result.stderr


def test_a_wrong_token_is_said_to_be_refused_at_once(refuser: str, tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path)
    collector.add_probe("check-1", "IT")
    collector.start()
    try:
        began = time.monotonic()
        result = run_probe("check", "-c", str(_config(tmp_path, f"unix:{collector.socket}")),
                           check=False, timeout=60)
        elapsed = time.monotonic() - began
    finally:
        collector.stop()
    line = next(x for x in result.stdout.splitlines() if x.startswith("✗ collector"))
    assert line.startswith("✗") and "REFUSED this probe's credentials" in line, line
    assert "INTERNAL" not in result.stdout + result.stderr
    assert result.returncode == 1 and elapsed < 15
