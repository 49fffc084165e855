"""`blockwatch web` as an operator starts it: loopback by default, a warning
when bound elsewhere without TLS, Secure cookies under TLS, and bad flags
refused in one line with exit 2 before anything starts."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from blockwatch.collector.registry import Registry
from tests.web.conftest import BLOCKWATCH, bw, env, free_port

_EMPTY = """
import sys
from tests.integration.analysis_world import create_schema
create_schema(sys.argv[1], 'blockwatch')
"""


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, str]:
    base = tmp_path_factory.mktemp("webcli")
    dsn = f"chdb://{base / 'db'}"
    subprocess.run([sys.executable, "-c", _EMPTY, dsn], check=True, env=env(), timeout=120)
    registry = base / "registry.db"
    reg = Registry(registry)
    token = reg.add("analyst", "ana")
    reg.close()
    return dsn, registry, token


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = subprocess.Popen([BLOCKWATCH, "web", "--port", str(port), *args], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc, str(port)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait(url: str, proc: subprocess.Popen[str], **kwargs: object) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            return httpx.get(url, timeout=2, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_bad_flags_are_refused_in_one_line(empty_db: tuple[str, Path, str],
                                           tmp_path: Path) -> None:
    dsn, registry, _ = empty_db
    for args, words in (
            ((), "give exactly one of --db"),
            (("--db", dsn, "--collector", "unix:/nope"), "give exactly one of --db"),
            (("--db", dsn), "--db needs --registry"),
            (("--db", dsn, "--registry", str(tmp_path / "nope.db")), "no such registry"),
            (("--db", dsn, "--registry", str(registry), "--tls-cert", str(registry)),
             "go together"),
            (("--db", dsn, "--registry", str(registry), "--host", "192.0.2.55"),
             "cannot bind 192.0.2.55"),
            (("--db", "chdb:///nonexistent/db", "--registry", str(registry)),
             "no such directory")):
        done = bw("web", *args)
        assert done.returncode != 0, args
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_loopback_by_default_and_a_warning_elsewhere(empty_db: tuple[str, Path, str]) -> None:
    dsn, registry, token = empty_db
    with serving("--db", dsn, "--registry", str(registry), "--host", "0.0.0.0") as (proc, port):
        got = _wait(f"http://127.0.0.1:{port}/api/v1", proc,
                    headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 200
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "WARNING: serving on 0.0.0.0" in err and "without TLS" in err
    with serving("--db", dsn, "--registry", str(registry)) as (proc, port):
        _wait(f"http://127.0.0.1:{port}/login", proc)
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                                   text=True, check=False).stdout.split()
        assert listening[3] == f"127.0.0.1:{port}", listening   # local address


def test_tls_sets_secure_cookies(empty_db: tuple[str, Path, str], tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    dsn, registry, token = empty_db
    with serving("--db", dsn, "--registry", str(registry), "--tls-cert",
                 str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem")) \
            as (proc, port):
        url = f"https://127.0.0.1:{port}"
        trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        _wait(url + "/login", proc, verify=trusted)
        got = httpx.post(url + "/login", data={"token": token, "next": "/"},
                         verify=trusted, timeout=30)
        assert got.status_code == 303
        cookie = got.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert proc.stderr is not None
    assert "WARNING" not in proc.stderr.read()
