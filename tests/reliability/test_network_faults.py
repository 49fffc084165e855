"""Faults between probe and collector, injected by a TCP proxy on loopback that
this test controls: delay, loss (bytes dropped), resets (RST), and half-open
connections (the proxy stops forwarding but keeps both sockets open). The
probe's uploader (deadlines, ack watchdog, reconnect with backoff) recovers
and every measurement is stored exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from pathlib import Path
from typing import Any

from blockwatch.probe.config import CollectorConfig
from blockwatch.probe.spool import Spool
from blockwatch.probe.upload import Uploader
from blockwatch.probe.wire import encode_measurement
from tests.integration.collector_harness import measurement
from tests.reliability.conftest import Figures
from tests.reliability.harness import Collector, count_stored

FAULT_S = 4.0          # each fault lasts this long, then the path heals
PER_PHASE = 300        # measurements spooled before each phase


class FaultProxy:
    """A loopback TCP proxy whose `mode` decides what happens to each chunk."""

    def __init__(self, target: tuple[str, int], seed: int = 7) -> None:
        self.target = target
        self.mode = "pass"
        self.delay_s = 0.15
        self.loss = 0.2
        self.rng = random.Random(seed)
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stuck: set[int] = set()   # id() of connections black-holed for good

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._writers.update(pair)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst, pair))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _reset(self, pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        for writer in pair:
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()     # close with linger 0: the peer sees RST
            self._writers.discard(writer)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        try:
            while data := await src.read(65536):
                mode = self.mode
                if mode == "half-open" or id(pair) in self._stuck:
                    # swallowed, and for good: like a NAT or firewall that silently
                    # forgot the flow; both sockets stay open, nothing is closed
                    self._stuck.add(id(pair))
                    continue
                if mode == "reset":
                    self._reset(pair)
                    return
                if mode == "loss" and self.rng.random() < self.loss:
                    continue
                if mode == "delay":
                    await asyncio.sleep(self.delay_s)
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if id(pair) not in self._stuck:
                dst.transport.abort()


def test_network_faults_recover_and_deliver_exactly_once(
        tmp_path: Path, figures: Figures) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    collector = Collector(tmp_path / "collector", tcp=f"127.0.0.1:{port}")
    token = collector.add_probe("net-it-1", "IT")
    results: dict[str, dict[str, Any]] = {}
    spooled = 0

    async def scenario() -> None:
        nonlocal spooled
        proxy = FaultProxy(("127.0.0.1", port))
        await proxy.start()
        spool = Spool(tmp_path / "spool.db")
        config = CollectorConfig(addresses=[f"127.0.0.1:{proxy.port}"], tls=False,
                                 batch_size=10, window=4, timeout_s=2)
        try:
            for fault in ("delay", "loss", "reset", "half-open"):
                spool.add([encode_measurement(measurement(i)) for i in range(PER_PHASE)])
                spooled += PER_PHASE
                up = Uploader(spool, config, token, "net-it-1")
                connections = proxy.connections
                proxy.mode = fault
                began = time.monotonic()
                task = asyncio.create_task(up.run(asyncio.Event(), drain=True,
                                                  give_up_after_s=90))
                if fault != "delay":
                    await asyncio.sleep(FAULT_S)
                    acked_during = up.stats.measurements_acked
                    proxy.mode = "pass"
                else:
                    acked_during = -1
                stats = await asyncio.wait_for(task, 120)
                results[fault] = {
                    "delivered": spool.pending() == 0, "seconds": round(
                        time.monotonic() - began, 1),
                    "fault_s": FAULT_S if fault != "delay" else "whole phase (150 ms/chunk)",
                    "acked_while_faulty": acked_during if acked_during >= 0 else "n/a",
                    "reconnects": stats.reconnects, "duplicates_acked": stats.duplicates,
                    "tcp_connections": proxy.connections - connections}
                assert spool.pending() == 0, fault
        finally:
            spool.close()
            await proxy.close()

    collector.start()
    try:
        asyncio.run(scenario())
    finally:
        collector.stop()
    stored = count_stored(collector)
    figures.record("network_faults", faults=results, spooled=spooled,
                   stored_rows=stored["rows"], stored_unique=stored["unique"],
                   duplicated=stored["rows"] - stored["unique"],
                   lost=spooled - stored["unique"])
    assert stored["rows"] == stored["unique"] == spooled
    assert results["half-open"]["reconnects"] >= 1 and results["reset"]["reconnects"] >= 1
