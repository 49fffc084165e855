"""The gRPC adapter: the only collector module that imports the generated
blockwatch.v1 classes. It turns a protobuf Batch into MeasurementColumns in one
pass over the repeated fields, and answers each batch with an Ack or a
Rejection; everything behind it uses the collector's own types.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc
import grpc.aio

from blockwatch.collector.assignment import Assignment
from blockwatch.collector.auth import current_principal
from blockwatch.collector.columns import Batch, MeasurementColumns, Origin
from blockwatch.collector.errors import BatchTooLarge, StorageUnavailable, ValidationError
from blockwatch.collector.metrics import Metrics
from blockwatch.collector.registry import Principal, Registry
from blockwatch.collector.validation import Limits, check_batch_size, validate_batch
from blockwatch.collector.writer import IngestWriter, Outcome
from blockwatch.v1 import probe_pb2 as pb
from blockwatch.v1 import probe_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ProbeService"].full_name
METHOD_ROLES = {
    f"/{SERVICE_NAME}/CheckIn": "probe",
    f"/{SERVICE_NAME}/Submit": "probe",
}
_TRANSPORTS = {"udp": 1, "tcp": 2, "dot": 3, "doh": 4}
STREAM_WINDOW = 64   # batches read ahead of their acks on one stream


_NO_RESPONSE = pb.Response()   # read-only stand-in: yields the neutral values


def to_columns(measurements: Any) -> MeasurementColumns:
    """Protobuf repeated Measurement -> columns.

    One list comprehension per column: at hundreds of thousands of rows a
    second, per-row method calls are the cost that matters, and a
    comprehension's loop runs without them. Answers are read once per record
    as tuples and split into the parallel columns.
    """
    ms = list(measurements)
    resolvers = [m.resolver for m in ms]
    responses = [m.responses for m in ms]
    counts = [len(x) for x in responses]
    firsts = [x[0] if x else _NO_RESPONSE for x in responses]
    answers = [[(a.name, a.rtype, a.ttl, a.data) for a in x.answers] for x in firsts]
    empty: list[Any] = []
    errors = [[(e.code, e.text) for e in x.extended_errors] if x.extended_errors else empty
              for x in firsts]
    c = MeasurementColumns(
        measurement_id=[m.measurement_id for m in ms],
        round_id=[m.round_id for m in ms],
        started_at_us=[m.started_at_us for m in ms],
        duration_us=[m.duration_us for m in ms],
        domain=[m.domain for m in ms],
        qtype=[m.qtype for m in ms],
        qclass=[m.qclass for m in ms],
        purpose=[m.purpose for m in ms],
        resolver_name=[r.name for r in resolvers],
        resolver_address=[r.address for r in resolvers],
        resolver_port=[r.port for r in resolvers],
        transport=[r.transport for r in resolvers],
        resolver_tls_name=[r.tls_name for r in resolvers],
        resolver_url=[r.url for r in resolvers],
        failure=[m.failure for m in ms],
        failure_text=[m.failure_text for m in ms],
        response_count=counts,
        arrival_us=[x.arrival_us for x in firsts],
        rcode=[x.rcode if n else None for x, n in zip(firsts, counts, strict=True)],
        flags=[x.flags for x in firsts],
        answer_name=[[a[0] for a in x] for x in answers],
        answer_type=[[a[1] for a in x] for x in answers],
        answer_ttl=[[a[2] for a in x] for x in answers],
        answer_data=[[a[3] for a in x] for x in answers],
        cname_chain=[list(x.cname_chain) if x.cname_chain else empty for x in firsts],
        authority_count=[x.authority_count for x in firsts],
        additional_count=[x.additional_count for x in firsts],
        edns=[x.edns for x in firsts],
        ede_code=[[e[0] for e in x] if x else empty for x in errors],
        ede_text=[[e[1] for e in x] if x else empty for x in errors],
        nsid=[x.nsid for x in firsts],
        size=[x.size for x in firsts],
        parse_error=[x.parse_error for x in firsts],
        wire=[x.wire for x in firsts],
    )
    # Several responses are rare (injection); fill those rows only. The empty
    # lists are shared: column lists are only ever extended, never mutated inside.
    n_rows = len(ms)
    for name in ("later_arrival_us", "later_rcode", "later_flags", "later_size",
                 "later_answer_type", "later_answer_data", "later_ede_code", "later_ede_text",
                 "later_wire"):
        setattr(c, name, [empty] * n_rows)
    for i in (i for i, n in enumerate(counts) if n > 1):
        later = responses[i][1:]
        c.later_arrival_us[i] = [y.arrival_us for y in later]
        c.later_rcode[i] = [y.rcode for y in later]
        c.later_flags[i] = [y.flags for y in later]
        c.later_size[i] = [y.size for y in later]
        c.later_answer_type[i] = [[a.rtype for a in y.answers] for y in later]
        c.later_answer_data[i] = [[a.data for a in y.answers] for y in later]
        c.later_ede_code[i] = [[e.code for e in y.extended_errors] for y in later]
        c.later_ede_text[i] = [[e.text for e in y.extended_errors] for y in later]
        c.later_wire[i] = [y.wire for y in later]
    return c


class ProbeActivity:
    """Per-probe counters gathered in memory and flushed to the registry now and
    then (one SQLite write per flush, not per batch)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._pending: dict[str, list[Any]] = {}

    def seen(self, probe: str, *, batches: int = 0, measurements: int = 0, rejected: int = 0,
             error: str = "") -> None:
        now = time.time()
        entry = self._pending.setdefault(probe, [now, 0, 0, 0, ""])
        entry[0] = now
        entry[1] += batches
        entry[2] += measurements
        entry[3] += rejected
        if error:
            entry[4] = error[:500]
        self._metrics.probe_last_seen.labels(probe).set(now)

    def take(self) -> dict[str, tuple[float, int, int, int, str]]:
        pending, self._pending = self._pending, {}
        return {k: (v[0], v[1], v[2], v[3], v[4]) for k, v in pending.items()}


class ProbeServicer(pb_grpc.ProbeServiceServicer):
    def __init__(self, *, writer: IngestWriter, registry: Registry, metrics: Metrics,
                 activity: ProbeActivity, limits: Limits,
                 assignment_for: Callable[[Principal], Assignment],
                 closing: asyncio.Event) -> None:
        self._writer = writer
        self._registry = registry
        self._metrics = metrics
        self._activity = activity
        self._limits = limits
        self._assignment_for = assignment_for
        self._closing = closing

    async def CheckIn(self, request: pb.CheckInRequest,
                      context: grpc.aio.ServicerContext[Any, Any]) -> pb.CheckInResponse:
        probe = current_principal()
        if request.probe_name and request.probe_name != probe.name:
            log.warning("event=checkin_name_mismatch registered=%s claimed=%s", probe.name,
                        request.probe_name)
        a = self._assignment_for(probe)
        self._activity.seen(probe.name)
        log.info("event=checkin probe=%s version=%s assignment=%s", probe.name,
                 request.software_version, a.version)
        return pb.CheckInResponse(
            probe_name=probe.name, country=probe.country, asn=probe.asn,
            assignment=pb.Assignment(
                version=a.version,
                targets=[pb.Target(domain=t.domain, site=t.site,
                                   purpose=cast("pb.Purpose", t.purpose)) for t in a.targets],
                resolvers=[pb.ResolverSpec(
                    name=r.name, transport=cast("pb.Transport", _TRANSPORTS[r.transport]),
                    address=r.address, port=r.port, tls_name=r.tls_name, url=r.url)
                    for r in a.resolvers],
                qtypes=list(a.qtypes),
                schedule=pb.Schedule(interval_s=a.interval_s, jitter_s=a.jitter_s)))

    async def Submit(self, request_iterator: AsyncIterator[pb.SubmitRequest],
                     context: grpc.aio.ServicerContext[Any, Any]
                     ) -> AsyncIterator[pb.SubmitResponse]:
        probe = current_principal()
        origin = Origin(probe.name, probe.country, probe.asn, probe.control)
        replies: asyncio.Queue[Awaitable[pb.SubmitResponse] | None] = asyncio.Queue(
            STREAM_WINDOW)
        revoked = asyncio.Event()

        async def read() -> None:
            # Read ahead of the acks so one stream keeps several batches in the writer.
            try:
                async for request in request_iterator:
                    if self._closing.is_set():
                        break
                    if self._registry.lookup("probe", probe.name) is None:
                        revoked.set()
                        break
                    await replies.put(self._accept(request.batch, origin))
            finally:
                await replies.put(None)

        self._metrics.streams.inc()
        reader = asyncio.create_task(read())
        closing = asyncio.create_task(self._closing.wait())
        try:
            while True:
                getter = asyncio.create_task(replies.get())
                await asyncio.wait({getter, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                item = getter.result()
                if item is None:
                    break
                yield await item
            # Shutting down, stream ended or probe revoked: answer what was accepted.
            reader.cancel()
            while not replies.empty():
                item = replies.get_nowait()
                if item is not None:
                    yield await item
            if revoked.is_set():
                await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                    f"probe {probe.name!r} was revoked")
            if self._closing.is_set():
                # UNAVAILABLE, not OK: the probe reconnects (elsewhere) and resends.
                await context.abort(grpc.StatusCode.UNAVAILABLE, "collector is shutting down")
        finally:
            reader.cancel()
            closing.cancel()
            self._metrics.streams.dec()

    def _accept(self, batch: pb.Batch, origin: Origin) -> Awaitable[pb.SubmitResponse]:
        """Validate now; return an awaitable answer (stored later, or rejected now)."""
        batch_id = batch.batch_id
        try:
            check_batch_size(len(batch.measurements), self._limits)
            columns = to_columns(batch.measurements)
            validate_batch(batch_id, columns, self._limits, time.time_ns() // 1000)
        except ValidationError as exc:
            return _done(self._reject(batch_id, origin, exc, len(batch.measurements)))
        future = self._writer.submit(Batch(batch_id, columns), origin)
        # A task, not a bare coroutine: the answer is accounted for even if the
        # stream dies before it is sent.
        return asyncio.ensure_future(self._answer(batch_id, origin, future))

    def _reject(self, batch_id: str, origin: Origin, exc: ValidationError,
                size: int) -> pb.SubmitResponse:
        too_large = isinstance(exc, BatchTooLarge)
        code = pb.Rejection.CODE_TOO_LARGE if too_large else pb.Rejection.CODE_INVALID
        reason = "too_large" if too_large else "invalid"
        self._metrics.batches.labels("rejected").inc()
        self._metrics.measurements.labels("rejected").inc(size)
        self._metrics.rejections.labels(reason).inc()
        self._activity.seen(origin.probe_name, rejected=1, error=str(exc))
        log.warning("event=batch_rejected probe=%s batch=%s code=%s record=%d field=%s "
                    "reason=%r", origin.probe_name, batch_id, reason, exc.record_index,
                    exc.field, exc.reason)
        return pb.SubmitResponse(batch_id=batch_id, rejection=pb.Rejection(
            code=code, reason=exc.reason, record_index=exc.record_index, field=exc.field))

    async def _answer(self, batch_id: str, origin: Origin, future: asyncio.Future[Outcome]
                      ) -> pb.SubmitResponse:
        try:
            outcome = await future
        except StorageUnavailable as exc:
            self._metrics.batches.labels("unavailable").inc()
            self._metrics.rejections.labels("unavailable").inc()
            self._activity.seen(origin.probe_name, error=str(exc))
            return pb.SubmitResponse(batch_id=batch_id, rejection=pb.Rejection(
                code=pb.Rejection.CODE_UNAVAILABLE, reason=f"not stored, retry: {exc}",
                record_index=-1))
        self._metrics.batches.labels("duplicate" if outcome.duplicates else "stored").inc()
        self._metrics.measurements.labels("stored").inc(outcome.stored)
        self._metrics.measurements.labels("duplicate").inc(outcome.duplicates)
        self._activity.seen(origin.probe_name, batches=1, measurements=outcome.stored)
        log.debug("event=batch_acked probe=%s batch=%s stored=%d duplicates=%d",
                  origin.probe_name, batch_id, outcome.stored, outcome.duplicates)
        return pb.SubmitResponse(batch_id=batch_id, ack=pb.Ack(
            stored=outcome.stored, duplicates=outcome.duplicates))


def _done(response: pb.SubmitResponse) -> asyncio.Future[pb.SubmitResponse]:
    future: asyncio.Future[pb.SubmitResponse] = asyncio.get_running_loop().create_future()
    future.set_result(response)
    return future


def add_to_server(servicer: ProbeServicer, server: grpc.aio.Server) -> None:
    pb_grpc.add_ProbeServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]


def file_descriptor_names() -> tuple[str, ...]:
    """Service names for reflection."""
    return (SERVICE_NAME,)
