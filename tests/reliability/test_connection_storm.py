"""Connection storms: 1,100 idle HTTP/2 connections with no token against a
collector whose descriptors are limited (RLIMIT_NOFILE soft 1024, as systemd
gives by default), while a legitimate probe checks in and submits over the same
TCP listener.

The storm is real: the test opens the TCP connections on loopback, sends the
HTTP/2 client preface and an empty SETTINGS frame on each, and holds them. The
collector is the real `blockwatch-collector serve` in a subprocess, its limit
set before exec."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_measurement
from blockwatch.v1 import probe_pb2, probe_pb2_grpc
from tests.integration.collector_harness import drain, measurement, uploader
from tests.integration.collector_process import COLLECTOR, CollectorProcess
from tests.reliability.conftest import Figures

STORM = 1_100
IDLE_TIMEOUT_S = 10.0   # the collector's default idle_timeout_s
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # + SETTINGS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LimitedCollector(CollectorProcess):
    """`serve` on a unix socket and TCP loopback with RLIMIT_NOFILE (soft, hard)."""

    def __init__(self, root: Path, nofile: tuple[int, int]) -> None:
        super().__init__(root)
        self.nofile = nofile
        self.port = _free_port()

    def start_limited(self, *extra: str) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        soft, hard = self.nofile

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        self.proc = subprocess.Popen(
            [*COLLECTOR, "serve", "--data-dir", str(self.data), "--unix", str(self.socket),
             "--listen", f"127.0.0.1:{self.port}", *extra],
            stderr=self.log.open("ab"), preexec_fn=limit)  # noqa: PLW1509 - only setrlimit
        deadline = time.monotonic() + 60
        while b"event=serving" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("collector did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.05)


@contextlib.contextmanager
def storm(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` idle HTTP/2 connections, held open until the block ends. A
    connection the server refuses or closes is counted as not held."""
    own = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(own[0], min(own[1], count + 512)), own[1]))
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(PREFACE)
            except OSError:
                s.close()
                continue
            held.append(s)
        yield held
    finally:
        for s in held:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, own)


def _still_open(sockets: list[socket.socket]) -> int:
    """Connections the server has not closed (a closed one reads EOF or resets)."""
    alive = 0
    for s in sockets:
        s.setblocking(False)
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


async def _checkin(channel: grpc.aio.Channel, token: str, budget_s: float) -> float:
    began = time.monotonic()
    await probe_pb2_grpc.ProbeServiceStub(channel).CheckIn(
        probe_pb2.CheckInRequest(), metadata=(("authorization", f"Bearer {token}"),),
        timeout=budget_s, wait_for_ready=True)
    return time.monotonic() - began


async def _storm_scenario(port: int, token: str, spool: Spool, budget_s: float
                          ) -> dict[str, float | int]:
    """A probe connected before the storm checks in during it on its connection;
    a new connection checks in and drains its spool (Submit) during it too."""
    address = f"127.0.0.1:{port}"
    async with grpc.aio.insecure_channel(address) as established:
        await _checkin(established, token, budget_s)
        began = time.monotonic()
        with storm(port, STORM) as held:
            figures: dict[str, float | int] = {
                "connections opened": len(held),
                "storm open s": round(time.monotonic() - began, 2),
                "established checkin s": round(await _checkin(established, token, budget_s), 3)}
            await asyncio.sleep(1.0)
            figures["closed at once (over the cap)"] = len(held) - _still_open(held)
            async with grpc.aio.insecure_channel(address) as fresh:
                figures["new connection checkin s"] = round(
                    await _checkin(fresh, token, budget_s), 3)
            stats = await drain(uploader(spool, address, token, name="storm-it"),
                                give_up_after_s=budget_s)
            figures["measurements acked"] = stats.measurements_acked
            # every idle connection is gone once the idle timeout (10 s) has passed
            await asyncio.sleep(max(0.0, began + IDLE_TIMEOUT_S + 5.0 - time.monotonic()))
            figures["storm connections open after the idle timeout"] = _still_open(held)
    return figures


@pytest.mark.parametrize("nofile", [(1024, 8192), (1024, 1024)],
                         ids=["soft-1024-hard-8192", "hard-1024"])
def test_idle_connection_storm_does_not_starve_probes(
        tmp_path: Path, figures: Figures, nofile: tuple[int, int]) -> None:
    collector = LimitedCollector(tmp_path, nofile)
    token = collector.add_probe("storm-it", "IT")
    spool = Spool(tmp_path / "spool.db")
    spool.add([encode_measurement(measurement(i)) for i in range(200)])
    collector.start_limited()
    try:
        found = asyncio.run(_storm_scenario(collector.port, token, spool, budget_s=30.0))
        assert collector.proc is not None and collector.proc.poll() is None
        log = collector.log.read_text()
    finally:
        collector.stop()
    stored = collector.stored()
    assert found["measurements acked"] == 200 and stored["unique"] == 200, (found, stored)
    assert "Too many open files" not in log
    assert found["storm connections open after the idle timeout"] == 0, found
    label = f"nofile {nofile[0]}/{nofile[1]}"
    figures.record("connection storm", **{label: {
        "connections attempted": STORM, **found,
        "rows stored": int(str(stored["rows"])), "unique stored": int(str(stored["unique"]))}})
    print(f"storm {label}: {found}", file=sys.stderr)
