"""Run one measurement round: every planned query through every resolver.

The plan (targets.py) decides what to ask; this module only drives sockets,
bounded per resolver by a concurrency limit and a queries-per-second pace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from blockwatch.probe.bounds import bound_measurement
from blockwatch.probe.dnsmessage import encode_query, parse_response, with_id
from blockwatch.probe.failures import describe, failure_of
from blockwatch.probe.followup import WebSummary
from blockwatch.probe.ids import new_measurement_id, uuid7
from blockwatch.probe.observation import Failure, Measurement, ResolverRef, Response, Transport
from blockwatch.probe.resolvers import ResolverSpec
from blockwatch.probe.streams import DohClient, StreamOutcome, query_stream, tls_context
from blockwatch.probe.targets import Query
from blockwatch.probe.udp import UdpChannel, UdpOutcome

log = logging.getLogger(__name__)

Sink = Callable[[Measurement], None]


@dataclass(frozen=True, slots=True)
class Limits:
    qps: float = 50.0
    concurrency: int = 32
    timeout_s: float = 5.0
    listen_window_s: float = 0.3
    stream_concurrency: int = 4  # TCP/DoT/DoH: one connection per query


@dataclass(slots=True)
class RoundSummary:
    round_id: str
    measurements: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    stray_replies: int = 0
    elapsed_s: float = 0.0
    web: WebSummary | None = None    # the round's web follow-up, when it ran


class _Pace:
    """Spaces query starts to at most `qps` per second for one resolver."""

    def __init__(self, qps: float) -> None:
        self._interval = 1.0 / qps
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)


class _Resolver:
    """One resolver endpoint during a round, with its transport open."""

    def __init__(self, ref: ResolverRef, spec: ResolverSpec, limits: Limits,
                 keep_wire: bool) -> None:
        self.ref = ref
        self.spec = spec
        self.limits = limits
        self.keep_wire = keep_wire
        self.udp: UdpChannel | None = None
        self.doh: DohClient | None = None
        self.open_failure: tuple[Failure, str] | None = None
        self.tls = tls_context(spec.ca_file or None) if ref.transport is Transport.DOT else None

    async def open(self) -> None:
        try:
            if self.ref.transport is Transport.UDP:
                channel = UdpChannel(self.ref.address, self.ref.port,
                                     listen_window=self.limits.listen_window_s,
                                     timeout=self.limits.timeout_s)
                await channel.open()
                self.udp = channel
            elif self.ref.transport is Transport.DOH:
                self.doh = DohClient(self.ref.url, self.spec.ca_file or None,
                                     self.limits.timeout_s)
        except OSError as exc:
            # e.g. no route to a public resolver: every query records it.
            self.open_failure = (failure_of(exc), describe(exc))

    async def close(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.doh is not None:
            await self.doh.close()


class RoundRunner:
    def __init__(
        self,
        resolvers: list[tuple[ResolverRef, ResolverSpec]],
        limits: Limits,
        *,
        keep_wire: bool = False,
    ) -> None:
        self._resolvers = resolvers
        self._limits = limits
        self._keep_wire = keep_wire

    async def run(
        self,
        plan: Callable[[], Iterator[Query]],
        sink: Sink,
        *,
        round_id: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> RoundSummary:
        summary = RoundSummary(round_id or str(uuid7()))
        started = time.monotonic()
        done = asyncio.Event()
        outstanding = 0  # measurements still waiting for their listen window to close

        def emit(measurement: Measurement) -> None:
            nonlocal outstanding
            outstanding -= 1
            summary.measurements += 1
            if measurement.failure is not Failure.NONE:
                label = measurement.failure.label
                summary.failures[label] = summary.failures.get(label, 0) + 1
            sink(measurement)
            if progress is not None:
                progress(1)
            if outstanding == 0:
                done.set()

        def started_one() -> None:
            nonlocal outstanding
            outstanding += 1
            done.clear()

        endpoints = [_Resolver(ref, spec, self._limits, self._keep_wire)
                     for ref, spec in self._resolvers]
        try:
            await asyncio.gather(*(endpoint.open() for endpoint in endpoints))
            await asyncio.gather(*(
                self._drive(endpoint, plan(), summary.round_id, started_one, emit)
                for endpoint in endpoints
            ))
            if outstanding:
                await done.wait()
        finally:
            for endpoint in endpoints:
                if endpoint.udp is not None:
                    summary.stray_replies += endpoint.udp.stray_replies
                await endpoint.close()
        summary.elapsed_s = time.monotonic() - started
        return summary

    async def _drive(self, endpoint: _Resolver, queries: Iterator[Query], round_id: str,
                     started_one: Callable[[], None], emit: Sink) -> None:
        pace = _Pace(self._limits.qps)
        shared = iter(queries)

        async def worker() -> None:
            for query in shared:  # workers share one iterator: each query runs once
                await pace.wait()
                started_one()
                await self._measure(endpoint, query, round_id, emit)

        workers = self._limits.concurrency
        if endpoint.ref.transport is not Transport.UDP:
            workers = min(workers, self._limits.stream_concurrency)
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def _measure(self, endpoint: _Resolver, query: Query, round_id: str,
                       emit: Sink) -> None:
        ref = endpoint.ref
        wall_us = time.time_ns() // 1000
        measurement = Measurement(
            measurement_id=new_measurement_id(), round_id=round_id, started_at_us=wall_us,
            duration_us=0, domain=query.domain, qtype=query.qtype, qclass=query.qclass,
            purpose=query.purpose, resolver=ref,
        )
        if endpoint.open_failure is not None:
            measurement.failure, measurement.failure_text = endpoint.open_failure
            emit(measurement)
            return
        wire = encode_query(query.domain, query.qtype, query.qclass)
        if endpoint.udp is not None:
            def finish(outcome: UdpOutcome) -> None:
                emit(_from_udp(measurement, outcome, endpoint.keep_wire))

            await endpoint.udp.query(wire, finish)
            return
        if endpoint.doh is not None:
            # DoH keeps id 0 (RFC 8484 4.1): HTTPS, not the id, ties reply to query
            outcome = await endpoint.doh.query(wire)
        else:
            # a random id, checked in the reply (RFC 7766 6.2.1.1), as over UDP
            wire = with_id(wire, secrets.randbelow(1 << 16))
            outcome = await query_stream(
                wire, ref.address, ref.port, self._limits.timeout_s, tls=endpoint.tls,
                server_hostname=ref.tls_name or ref.address,
            )
        emit(_from_stream(measurement, outcome, endpoint.keep_wire, query_id=wire[:2]))


def _from_udp(measurement: Measurement, outcome: UdpOutcome, keep_wire: bool) -> Measurement:
    replies = outcome.replies
    measurement.responses = [
        parse_response(data, measurement.domain, measurement.qtype, arrival, keep_wire=keep_wire)
        for arrival, data in replies
    ]
    measurement.reply_count = outcome.reply_count
    measurement.reply_bytes = outcome.reply_bytes
    measurement.answer_set_count = outcome.answer_sets
    measurement.stray_count = outcome.stray_count
    measurement.strays = list(outcome.strays)
    if measurement.responses:
        measurement.duration_us = measurement.responses[0].arrival_us
    else:
        measurement.duration_us = (time.monotonic_ns() - outcome.sent_ns) // 1000
    _settle_failure(measurement, outcome.failure, outcome.failure_text)
    return bound_measurement(measurement, [data for _, data in replies])


def _from_stream(measurement: Measurement, outcome: StreamOutcome, keep_wire: bool,
                 query_id: bytes = b"\0\0") -> Measurement:
    measurement.duration_us = outcome.elapsed_us
    if outcome.reply:
        response = parse_response(outcome.reply, measurement.domain, measurement.qtype,
                                  outcome.elapsed_us, keep_wire=keep_wire)
        if not response.parse_error and outcome.reply[:2] != query_id:
            # over TCP/DoT/DoH too a reply is matched by its message id (RFC 7766):
            # a reply to another query is not the answer to this one
            response = dataclasses.replace(response, parse_error=(
                f"response id {int.from_bytes(outcome.reply[:2], 'big')} does not match "
                f"the query's id {int.from_bytes(query_id, 'big')}"))
        measurement.responses = [response]
        measurement.reply_count = measurement.answer_set_count = 1
        measurement.reply_bytes = len(outcome.reply)
    _settle_failure(measurement, outcome.failure, outcome.failure_text)
    return bound_measurement(measurement, [outcome.reply])


def _settle_failure(measurement: Measurement, failure: Failure, text: str) -> None:
    responses: list[Response] = measurement.responses
    if not responses:
        measurement.failure, measurement.failure_text = failure, text
    elif all(r.parse_error for r in responses):
        measurement.failure = Failure.MALFORMED_RESPONSE
        measurement.failure_text = responses[0].parse_error


def expand(specs: list[ResolverSpec], resolv_conf: str) -> list[tuple[ResolverRef, ResolverSpec]]:
    """Concrete endpoints for a list of configured resolvers."""
    return [(ref, spec) for spec in specs for ref in spec.refs(Path(resolv_conf))]

