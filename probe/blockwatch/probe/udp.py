"""DNS over UDP with one connected socket per resolver and query-id matching.

Why not `dns.asyncquery.udp`: it opens a socket per query and returns only the
first reply. A probe must keep listening after the first reply (an on-path
injector shows up as two replies) and must sustain thousands of queries per
second on one core, so it multiplexes queries on one socket by id.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from blockwatch.probe.bounds import MAX_RESPONSES, MAX_STRAYS
from blockwatch.probe.dnsmessage import answer_set, question_key, response_id, with_id
from blockwatch.probe.failures import describe, failure_of
from blockwatch.probe.observation import Failure, StrayReason, StrayReply

RECEIVE_BUFFER = 4 << 20  # a burst of replies must not overflow into false timeouts
_ID_SPACE = 1 << 16
_MAX_DATAGRAM = 65_535
assert MAX_RESPONSES >= 2  # the first reply is never replaced: its window's end is fixed
_MAX_ANSWER_SETS = 4096  # distinct answer sets told apart per query; beyond, the count stops
_REST_GROUP_S = 0.01  # ids that stop resting within this long of each other rest as one group


@dataclass(slots=True)
class UdpOutcome:
    """Raw result of one UDP query: every datagram that arrived for its id is
    counted; the first is kept, then each with an answer set not seen before,
    and once MAX_RESPONSES are kept the newest distinct one replaces the last. So a
    flood of identical forgeries cannot push the genuine reply out.

    Thousands are open at once during the listen window, so the common case (one
    reply, no stray) allocates nothing beyond the object and the reply's bytes."""

    sent_ns: int
    reply_count: int = 0
    reply_bytes: int = 0
    stray_count: int = 0
    failure: Failure = Failure.NONE
    failure_text: str = ""
    first_us: int = 0            # arrival of the first reply, µs; it is always kept
    _first: bytes | None = None
    _later: list[tuple[int, bytes]] | None = None       # kept replies after the first
    _strays: list[StrayReply] | None = None
    _sets: set[int] | None = None

    @property
    def replies(self) -> list[tuple[int, bytes]]:
        """The kept replies, (arrival µs, bytes), in arrival order."""
        if self._first is None:
            return []
        return [(self.first_us, self._first), *(self._later or ())]

    @property
    def strays(self) -> list[StrayReply]:
        return list(self._strays or ())

    @property
    def answer_sets(self) -> int:
        return len(self._sets) if self._sets else (1 if self._first is not None else 0)

    def add_reply(self, arrival_us: int, data: bytes) -> None:
        self.reply_count += 1
        self.reply_bytes += len(data)
        if self._first is None:  # the common case: one reply, no parsing here
            self.first_us, self._first = arrival_us, _compact(data)
            return
        if self._sets is None:
            self._sets = {hash(answer_set(self._first))}
        key = hash(answer_set(data))
        if key in self._sets or len(self._sets) >= _MAX_ANSWER_SETS:
            return  # a copy of an answer set already kept: counted, not kept
        self._sets.add(key)
        if self._later is None:
            self._later = []
        if len(self._later) + 1 < MAX_RESPONSES:
            self._later.append((arrival_us, _compact(data)))
        else:
            self._later[-1] = (arrival_us, _compact(data))

    def add_stray(self, arrival_us: int, size: int, reason: str) -> None:
        self.stray_count += 1
        if self._strays is None:
            self._strays = []
        if len(self._strays) < MAX_STRAYS:
            self._strays.append(StrayReply(arrival_us, size, reason))


class _Pending:
    """One open query. Kept small: at thousands of queries per second the listen
    window holds thousands at once (docs/web.md, peak RSS)."""

    __slots__ = ("first", "on_done", "outcome", "query", "query_id", "question", "timer")

    def __init__(self, outcome: UdpOutcome, query_id: int, first: asyncio.Future[None],
                 on_done: Callable[[UdpOutcome], None], query: bytes) -> None:
        self.outcome = outcome
        self.query_id = query_id
        self.first: asyncio.Future[None] | None = first     # dropped at the first reply
        self.on_done = on_done
        self.query = query
        self.timer: asyncio.TimerHandle | None = None       # the timeout, until a reply
        self.question: bytes | None = None  # question_key(query), computed when a stray needs it


class UdpChannel(asyncio.DatagramProtocol):
    """Queries to one resolver address over one connected UDP socket."""

    def __init__(self, address: str, port: int, *, listen_window: float, timeout: float) -> None:
        self.address = address
        self.port = port
        self.listen_window = listen_window
        self.timeout = timeout
        self.stray_replies = 0  # replies for no open query: late, or forged blindly
        self.listening_peak = 0  # most queries in their listen window at once
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, _Pending] = {}
        # Answered queries in their listen window, oldest first. The window is the
        # same for all, so they close in this order: one timer for the head does for
        # all of them (a timer each cost ~0.5 KB at thousands open at once).
        self._listening: collections.deque[_Pending] = collections.deque()
        self._window_ns = int(listen_window * 1e9)
        self._sweep_timer: asyncio.TimerHandle | None = None
        # Ids stay reserved a while after a query closes, so that a late reply is
        # counted as stray instead of being matched to a newer query. They rest in
        # groups that end together: (end, ids).
        self._resting: collections.deque[tuple[float, list[int]]] = collections.deque()
        self._resting_ids: set[int] = set()
        self._random = random.SystemRandom()
        self._closed = False

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            _size_receive_buffer(sock)
            sock.connect((self.address, self.port))
        except OSError:
            sock.close()
            raise
        transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)
        if hasattr(transport, "max_size"):
            # asyncio reads each datagram into a 256 KiB buffer, which glibc maps and
            # unmaps per datagram (~25 µs); no UDP payload exceeds 65,535 bytes
            transport.max_size = _MAX_DATAGRAM
        self._transport = transport

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
            self._sweep_timer = None
        self._listening.clear()
        for query_id in list(self._pending):
            self._finish(query_id, Failure.CONNECTION_RESET, "channel closed")

    @property
    def listening(self) -> int:
        """Answered queries whose listen window is still open."""
        return len(self._listening)

    async def query(self, query: bytes, on_done: Callable[[UdpOutcome], None]) -> None:
        """Send `query` (id is replaced) and return once the first reply arrived or the
        query failed. `on_done` receives the outcome when the listen window closes."""
        if self._transport is None or self._closed:
            raise RuntimeError("channel is not open")
        loop = asyncio.get_running_loop()
        query_id = await self._free_id()
        first = loop.create_future()
        pending = _Pending(UdpOutcome(time.monotonic_ns()), query_id, first, on_done, query)
        self._pending[query_id] = pending
        pending.timer = loop.call_later(self.timeout, self._timed_out, query_id)
        try:
            self._transport.sendto(with_id(query, query_id))
        except OSError as exc:
            self._finish(query_id, failure_of(exc), describe(exc))
        await asyncio.shield(first)

    async def _free_id(self) -> int:
        self._release_rested()
        while len(self._pending) + len(self._resting_ids) >= _ID_SPACE - 1:
            await asyncio.sleep(0.01)
            self._release_rested()
        while True:
            query_id = self._random.randrange(_ID_SPACE)
            if query_id not in self._pending and query_id not in self._resting_ids:
                return query_id

    def _release_rested(self) -> None:
        now = time.monotonic()
        while self._resting and self._resting[0][0] <= now:
            self._resting_ids.difference_update(self._resting.popleft()[1])

    def _rest(self, query_id: int) -> None:
        end = time.monotonic() + max(1.0, self.listen_window)
        if self._resting and self._resting[-1][0] >= end:
            self._resting[-1][1].append(query_id)  # rests up to _REST_GROUP_S longer
        else:
            self._resting.append((end + _REST_GROUP_S, [query_id]))
        self._resting_ids.add(query_id)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        query_id = response_id(data)
        pending = self._pending.get(query_id) if query_id is not None else None
        if pending is None:
            self.stray_replies += 1
            self._stray(data, query_id)
            return
        outcome = pending.outcome
        outcome.add_reply((time.monotonic_ns() - outcome.sent_ns) // 1000, data)
        if outcome.reply_count > 1:
            return
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        first, pending.first = pending.first, None
        if self.listen_window > 0:
            self._listening.append(pending)
            self.listening_peak = max(self.listening_peak, len(self._listening))
            if self._sweep_timer is None:
                self._sweep_timer = asyncio.get_running_loop().call_later(
                    self.listen_window, self._sweep)
        else:
            self._finish(pending.query_id)
        if first is not None and not first.done():
            first.set_result(None)

    def _sweep(self) -> None:
        """Close every listen window that has run out; wake again for the next one."""
        self._sweep_timer = None
        listening = self._listening
        now = time.monotonic_ns()
        try:
            while listening and self._window_end(listening[0]) <= now:
                self._finish(listening.popleft().query_id)
        finally:  # a failing callback must not leave the other windows open
            if listening and self._sweep_timer is None and not self._closed:
                wait = max(0, self._window_end(listening[0]) - now) / 1e9
                self._sweep_timer = asyncio.get_running_loop().call_later(wait, self._sweep)

    def _window_end(self, pending: _Pending) -> int:
        outcome = pending.outcome
        return outcome.sent_ns + outcome.first_us * 1000 + self._window_ns

    def _stray(self, data: bytes, query_id: int | None) -> None:
        """Record a datagram that matched no open query with the queries it raced:
        those that asked its question, or else every query still unanswered."""
        if query_id is not None and query_id in self._resting_ids:
            return  # a late reply to a closed query: counted on the channel only
        now = time.monotonic_ns()
        reason = StrayReason.RUNT if query_id is None else StrayReason.UNMATCHED
        raced = [p for p in self._pending.values() if not p.outcome.reply_count]
        key = question_key(data) if query_id is not None else None
        if key is not None:
            asked = []
            for p in self._pending.values():
                if p.question is None:
                    p.question = question_key(p.query)
                if p.question == key:
                    asked.append(p)
            if asked:
                reason, raced = StrayReason.WRONG_ID, asked
        for p in raced:
            p.outcome.add_stray((now - p.outcome.sent_ns) // 1000, len(data), reason)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors on a shared socket cannot be tied to one query id: they
        # concern the path to the resolver, so every unanswered query shares them.
        for query_id, pending in list(self._pending.items()):
            if not pending.outcome.reply_count:
                self._finish(query_id, failure_of(exc), describe(exc))

    def _timed_out(self, query_id: int) -> None:
        self._finish(query_id, Failure.TIMEOUT, f"no response within {self.timeout:g}s")

    def _finish(self, query_id: int, failure: Failure = Failure.NONE, text: str = "") -> None:
        pending = self._pending.pop(query_id, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        outcome = pending.outcome
        if not outcome.reply_count:
            outcome.failure = failure
            outcome.failure_text = text
        self._rest(query_id)
        if pending.first is not None and not pending.first.done():
            pending.first.set_result(None)
        pending.on_done(outcome)


def _compact(data: bytes) -> bytes:
    """A copy of a datagram in its own small object. A datagram read into a buffer
    above malloc's mmap threshold (asyncio's default is 256 KiB) is shrunk to one
    page: kept as it is, every reply in its listen window would pin 4 KiB of RSS
    for about 100 bytes used; copied, it takes its size from Python's allocator."""
    return bytes(memoryview(data))


def _size_receive_buffer(sock: socket.socket) -> None:
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        with contextlib.suppress(OSError):  # needs CAP_NET_ADMIN; fall back below
            sock.setsockopt(socket.SOL_SOCKET, force, RECEIVE_BUFFER)
            return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
