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
from dataclasses import dataclass, field

from blockwatch.probe.bounds import MAX_RESPONSES, MAX_STRAYS
from blockwatch.probe.dnsmessage import answer_set, question_key, response_id, with_id
from blockwatch.probe.failures import describe
from blockwatch.probe.failures import failure_of as classify
from blockwatch.probe.observation import Failure, StrayReason, StrayReply

RECEIVE_BUFFER = 4 << 20  # a burst of replies must not overflow into false timeouts
_ID_SPACE = 1 << 16
_MAX_ANSWER_SETS = 4096  # distinct answer sets told apart per query; beyond, the count stops


@dataclass(slots=True)
class UdpOutcome:
    """Raw result of one UDP query: every datagram that arrived for its id is
    counted; the first is kept, then each with an answer set not seen before,
    and once `keep` are kept the newest distinct one replaces the last. So a
    flood of identical forgeries cannot push the genuine reply out."""

    sent_ns: int
    keep: int = MAX_RESPONSES
    replies: list[tuple[int, bytes]] = field(default_factory=list)  # (arrival µs, bytes)
    reply_count: int = 0
    reply_bytes: int = 0
    strays: list[StrayReply] = field(default_factory=list)
    stray_count: int = 0
    failure: Failure = Failure.NONE
    failure_text: str = ""
    _sets: set[int] = field(default_factory=set)

    @property
    def answer_sets(self) -> int:
        return len(self._sets) or (1 if self.replies else 0)

    def add_reply(self, arrival_us: int, data: bytes) -> None:
        self.reply_count += 1
        self.reply_bytes += len(data)
        if not self.replies:  # the common case: one reply, no parsing here
            self.replies.append((arrival_us, data))
            return
        if not self._sets:
            self._sets.add(hash(answer_set(self.replies[0][1])))
        key = hash(answer_set(data))
        if key in self._sets or len(self._sets) >= _MAX_ANSWER_SETS:
            return  # a copy of an answer set already kept: counted, not kept
        self._sets.add(key)
        if len(self.replies) < self.keep:
            self.replies.append((arrival_us, data))
        else:
            self.replies[-1] = (arrival_us, data)

    def add_stray(self, arrival_us: int, size: int, reason: str) -> None:
        self.stray_count += 1
        if len(self.strays) < MAX_STRAYS:
            self.strays.append(StrayReply(arrival_us, size, reason))


@dataclass(slots=True)
class _Pending:
    outcome: UdpOutcome
    first: asyncio.Future[None]
    on_done: Callable[[UdpOutcome], None]
    query: bytes
    timer: asyncio.TimerHandle | None = None
    question: bytes | None = None  # question_key(query), computed when a stray needs it


class UdpChannel(asyncio.DatagramProtocol):
    """Queries to one resolver address over one connected UDP socket."""

    def __init__(self, address: str, port: int, *, listen_window: float, timeout: float) -> None:
        self.address = address
        self.port = port
        self.listen_window = listen_window
        self.timeout = timeout
        self.stray_replies = 0  # replies for no open query: late, or forged blindly
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, _Pending] = {}
        # Ids stay reserved a while after a query closes, so that a late reply
        # is counted as stray instead of being matched to a newer query.
        self._resting: collections.deque[tuple[float, int]] = collections.deque()
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
        self._transport = transport

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()
        for query_id in list(self._pending):
            self._finish(query_id, Failure.CONNECTION_RESET, "channel closed")

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def query(self, query: bytes, on_done: Callable[[UdpOutcome], None]) -> None:
        """Send `query` (id is replaced) and return once the first reply arrived or the
        query failed. `on_done` receives the outcome when the listen window closes."""
        if self._transport is None or self._closed:
            raise RuntimeError("channel is not open")
        loop = asyncio.get_running_loop()
        query_id = await self._free_id()
        pending = _Pending(UdpOutcome(time.monotonic_ns()), loop.create_future(), on_done,
                           query)
        self._pending[query_id] = pending
        pending.timer = loop.call_later(self.timeout, self._timed_out, query_id)
        try:
            self._transport.sendto(with_id(query, query_id))
        except OSError as exc:
            self._finish(query_id, classify(exc), describe(exc))
        await asyncio.shield(pending.first)

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
            self._resting_ids.discard(self._resting.popleft()[1])

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        query_id = response_id(data)
        pending = self._pending.get(query_id) if query_id is not None else None
        if pending is None:
            self.stray_replies += 1
            self._stray(data, query_id)
            return
        arrival_us = (time.monotonic_ns() - pending.outcome.sent_ns) // 1000
        pending.outcome.add_reply(arrival_us, data)
        if pending.outcome.reply_count == 1:
            assert query_id is not None
            if pending.timer is not None:
                pending.timer.cancel()
            loop = asyncio.get_running_loop()
            if self.listen_window > 0:
                pending.timer = loop.call_later(self.listen_window, self._finish, query_id)
            else:
                self._finish(query_id)
            if not pending.first.done():
                pending.first.set_result(None)

    def _stray(self, data: bytes, query_id: int | None) -> None:
        """Record a datagram that matched no open query with the queries it raced:
        those that asked its question, or else every query still unanswered."""
        if query_id is not None and query_id in self._resting_ids:
            return  # a late reply to a closed query: counted on the channel only
        now = time.monotonic_ns()
        reason = StrayReason.RUNT if query_id is None else StrayReason.UNMATCHED
        raced = [p for p in self._pending.values() if not p.outcome.replies]
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
            if not pending.outcome.replies:
                self._finish(query_id, classify(exc), describe(exc))

    def _timed_out(self, query_id: int) -> None:
        self._finish(query_id, Failure.TIMEOUT, f"no response within {self.timeout:g}s")

    def _finish(self, query_id: int, failure: Failure = Failure.NONE, text: str = "") -> None:
        pending = self._pending.pop(query_id, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        if not pending.outcome.replies:
            pending.outcome.failure = failure
            pending.outcome.failure_text = text
        self._resting.append((time.monotonic() + max(1.0, self.listen_window), query_id))
        self._resting_ids.add(query_id)
        if not pending.first.done():
            pending.first.set_result(None)
        pending.on_done(pending.outcome)


def _size_receive_buffer(sock: socket.socket) -> None:
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        with contextlib.suppress(OSError):  # needs CAP_NET_ADMIN; fall back below
            sock.setsockopt(socket.SOL_SOCKET, force, RECEIVE_BUFFER)
            return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
