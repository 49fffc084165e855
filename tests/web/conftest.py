"""A `blockwatch web` server (a subprocess, as analysts run it) on the
hand-built analysis world, with an analyst and a probe token in a registry."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from blockwatch.collector.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
BLOCKWATCH = shutil.which("blockwatch", path=str(Path(sys.executable).parent)) or "blockwatch"
UNTIL = "2024-08-20"
_BUILD = """
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.storage import reclassify
from tests.integration.analysis_world import build_world
import sys
db = build_world(sys.argv[1], 'blockwatch')
reclassify(db, load_fingerprints())
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def bw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BLOCKWATCH, *args], capture_output=True, text=True, check=False,
                          env=env(), timeout=180)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class WebServer:
    url: str
    dsn: str
    analyst: str
    probe: str
    registry: Path


@pytest.fixture(scope="session")
def world_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    dsn = f"chdb://{tmp_path_factory.mktemp('webworld') / 'db'}"
    subprocess.run([sys.executable, "-c", _BUILD, dsn], check=True, env=env(), timeout=300)
    return dsn


@pytest.fixture(scope="session")
def cli_json(world_dsn: str) -> dict[tuple[str, str], list[dict[str, object]]]:
    """The CLI's JSON (report NAME --format json) on the same database, before the
    server opens it (chDB: one process per path)."""
    import json

    out: dict[tuple[str, str], list[dict[str, object]]] = {}
    for name, extra in (("compliance", ()), ("compliance", ("--order", "it-2024-kat")),
                        ("leakage", ("--order", "it-2024-kat")),
                        ("spillover", ("--order", "it-2024-kat")),
                        ("effectiveness", ("--country", "IT")),
                        ("timeline", ("--order", "it-2024-kat", "--country", "IT")),
                        ("probes", ())):
        done = bw("report", name, *extra, "--until", UNTIL, "--format", "json",
                  "--db", world_dsn)
        assert done.returncode == 0, done.stderr
        out[(name, " ".join(extra))] = json.loads(done.stdout)
    return out


@pytest.fixture(scope="session")
def static_report(world_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`blockwatch report html` on the same database (before the server holds it)."""
    out = tmp_path_factory.mktemp("static") / "report"
    done = bw("report", "html", "--until", UNTIL, "--out", str(out), "--db", world_dsn)
    assert done.returncode == 0, done.stderr
    return out / "index.html"


@pytest.fixture(scope="session")
def server(world_dsn: str, cli_json: object, static_report: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    registry = tmp_path_factory.mktemp("registry") / "registry.db"
    reg = Registry(registry)
    analyst, probe = reg.add("analyst", "ana"), reg.add("probe", "p1", country="IT")
    reg.close()
    port = free_port()
    proc = subprocess.Popen([BLOCKWATCH, "web", "--db", world_dsn, "--registry", str(registry),
                             "--port", str(port)], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"blockwatch web exited: {proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                httpx.get(url + "/login", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield WebServer(url, world_dsn, analyst, probe, registry)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
