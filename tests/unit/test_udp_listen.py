"""The UDP listen window against a real UDP server on loopback: what a query keeps
hearing after its first reply, when it closes, and what it costs to keep open."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import cast

import dns.message
import dns.rrset

from blockwatch.probe.dnsmessage import encode_query
from blockwatch.probe.observation import Failure
from blockwatch.probe.udp import UdpChannel, UdpOutcome


def _reply(query: bytes, address: str) -> bytes:
    message = dns.message.from_wire(query)
    reply = dns.message.make_response(message)
    reply.answer.append(dns.rrset.from_text(message.question[0].name, 60, "IN", "A", address))
    return reply.to_wire()


class _Server(asyncio.DatagramProtocol):
    """Answers every query at once with 192.0.2.1, then sends each (delay, address)
    of `extra` as a further reply to the same id: an injector's or a late copy."""

    def __init__(self, extra: tuple[tuple[float, str], ...] = ()) -> None:
        self.extra = extra
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # not a subclass in 3.11

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        assert self.transport is not None
        if b"\x06silent" in data:
            return  # a dropped query: it stays unanswered
        self.transport.sendto(_reply(data, "192.0.2.1"), addr)
        loop = asyncio.get_running_loop()
        for delay, address in self.extra:
            loop.call_later(delay, self._send, _reply(data, address), addr)

    def _send(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)


async def _serve(extra: tuple[tuple[float, str], ...] = (),
                 ) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Server(extra),
                                                       local_addr=("127.0.0.1", 0))
    return transport, int(transport.get_extra_info("sockname")[1])


def _collector() -> tuple[list[tuple[float, UdpOutcome]], Callable[[UdpOutcome], None]]:
    done: list[tuple[float, UdpOutcome]] = []

    def on_done(outcome: UdpOutcome) -> None:
        done.append((time.monotonic(), outcome))

    return done, on_done


def test_a_second_answer_within_the_window_is_kept_and_a_later_reply_is_a_stray() -> None:
    async def scenario() -> tuple[list[tuple[float, UdpOutcome]], float, int]:
        server, port = await _serve(((0.1, "10.10.34.34"), (0.7, "10.10.34.35")))
        channel = UdpChannel("127.0.0.1", port, listen_window=0.3, timeout=2.0)
        await channel.open()
        done, on_done = _collector()
        try:
            asked = time.monotonic()
            await channel.query(encode_query("example.test", 1), on_done)
            answered = time.monotonic()
            assert not done and answered - asked < 1.0  # back at the first reply
            await asyncio.sleep(1.0)  # past the window and the late copy
            return done, answered, channel.stray_replies
        finally:
            channel.close()
            server.close()

    done, answered, strays = asyncio.run(scenario())
    assert len(done) == 1
    closed_at, outcome = done[0]
    # the window runs from the first reply; on a loaded machine it may close late
    assert 0.29 <= closed_at - answered < 0.6
    assert outcome.failure is Failure.NONE
    assert outcome.reply_count == 2 and outcome.answer_sets == 2
    first, second = outcome.replies
    assert b"\xc0\x00\x02\x01" in first[1] and b"\x0a\x0a\x22\x22" in second[1]
    assert second[0] - first[0] >= 90_000  # arrival µs after the query was sent
    assert strays == 1  # the copy after the window: counted on the channel, not matched


def test_every_listening_query_closes_in_the_order_answered_each_after_its_window() -> None:
    async def scenario() -> list[tuple[float, float, UdpOutcome]]:
        server, port = await _serve()
        channel = UdpChannel("127.0.0.1", port, listen_window=0.2, timeout=2.0)
        await channel.open()
        closed: list[tuple[float, float, UdpOutcome]] = []
        try:
            for i in range(5):
                answered: list[float] = []

                def on_done(outcome: UdpOutcome, answered: list[float] = answered) -> None:
                    closed.append((answered[0], time.monotonic(), outcome))

                await channel.query(encode_query(f"n{i}.example.test", 1), on_done)
                answered.append(time.monotonic())
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
        finally:
            channel.close()
            server.close()
        return closed

    closed = asyncio.run(scenario())
    assert len(closed) == 5
    assert [answered for answered, _, _ in closed] == sorted(a for a, _, _ in closed)
    for answered, at, outcome in closed:
        assert 0.19 <= at - answered < 0.5 and outcome.reply_count == 1


def test_a_failing_callback_leaves_no_other_window_open() -> None:
    async def scenario() -> list[tuple[float, UdpOutcome]]:
        server, port = await _serve()
        channel = UdpChannel("127.0.0.1", port, listen_window=0.1, timeout=2.0)
        await channel.open()
        done, on_done = _collector()

        def failing(outcome: UdpOutcome) -> None:
            raise RuntimeError("a sink that fails")

        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, _context: None)  # it is logged, as before
        try:
            await channel.query(encode_query("first.example.test", 1), failing)
            for i in range(3):
                await channel.query(encode_query(f"n{i}.example.test", 1), on_done)
            await asyncio.sleep(0.5)
            return list(done)
        finally:
            channel.close()
            server.close()

    done = asyncio.run(scenario())
    assert [o.reply_count for _, o in done] == [1, 1, 1]


def test_closing_the_channel_ends_every_open_query_once() -> None:
    async def scenario() -> list[tuple[float, UdpOutcome]]:
        server, port = await _serve()
        channel = UdpChannel("127.0.0.1", port, listen_window=5.0, timeout=5.0)
        await channel.open()
        done, on_done = _collector()
        await channel.query(encode_query("answered.example.test", 1), on_done)
        unanswered = asyncio.ensure_future(
            channel.query(encode_query("silent.example.test", 1), on_done))
        await asyncio.sleep(0.05)
        channel.close()
        await asyncio.wait_for(unanswered, 2.0)
        await asyncio.sleep(0.1)
        server.close()
        return done

    done = asyncio.run(scenario())
    outcomes = sorted((o.reply_count, o.failure) for _, o in done)
    assert outcomes == [(0, Failure.CONNECTION_RESET), (1, Failure.NONE)]


LISTENING = 2000


def listening_memory() -> tuple[float, float]:
    """Bytes traced and bytes resident per query listening after its reply, with
    LISTENING of them open at once."""

    async def scenario() -> tuple[int, int, int]:
        server, port = await _serve()
        channel = UdpChannel("127.0.0.1", port, listen_window=30.0, timeout=30.0)
        await channel.open()
        done, on_done = _collector()
        names = iter(range(LISTENING))

        async def worker() -> None:  # as the probe's runner drives a channel
            for i in names:
                await channel.query(encode_query(f"n{i}.bench.test", 1), on_done)

        try:
            await channel.query(encode_query("warm.bench.test", 1), on_done)
            gc.collect()
            rss_before = _rss()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            await asyncio.gather(*(worker() for _ in range(64)))
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            resident = _rss() - rss_before
            assert not done  # every query is still listening
        finally:
            channel.close()
            server.close()
        return held, resident, len(done)

    held, resident, closed = asyncio.run(scenario())
    assert closed == LISTENING + 1
    return held / LISTENING, resident / LISTENING


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_query_listening_after_its_reply_holds_little_memory() -> None:
    """At 9,000 queries/s a 0.3 s window keeps thousands open at once: what each
    holds is the probe's peak memory (docs/web.md, issue 12's RSS bar). Measured
    in a fresh interpreter, as the probe runs: what malloc does with a buffer
    depends on what the process freed before."""
    found = subprocess.run(
        [sys.executable, "-c", "from tests.unit.test_udp_listen import listening_memory as m; "
         "print(*m())"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
        check=False)
    assert found.returncode == 0, found.stderr[-2000:]
    traced, resident = (float(x) for x in found.stdout.split())
    print(f"udp_listening_bytes_per_query={traced:.0f} resident={resident:.0f}")
    assert traced < 700, traced
    # what tracemalloc cannot see: a datagram read into asyncio's 256 KiB buffer and
    # kept as it is stays mapped at a page (4 KiB) per reply
    assert resident < 1500, resident
