"""The gRPC adapter: the only collector module that imports the generated
blockwatch.v1 classes. It turns a protobuf Batch's columns into
MeasurementColumns (Arrow arrays, one C-level call per field), refuses the
retired row form, and answers each batch with an Ack or a Rejection;
everything behind it uses the collector's own types.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast

import grpc
import grpc.aio
from google.protobuf.descriptor_pb2 import DescriptorProto
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from blockwatch.collector.assignment import Assignment
from blockwatch.collector.auth import current_principal
from blockwatch.collector.columns import (
    Batch,
    Columns,
    MeasurementColumns,
    Origin,
    fill_absent,
    storage_table,
)
from blockwatch.collector.errors import BatchTooLarge, StorageUnavailable, ValidationError
from blockwatch.collector.metrics import Metrics
from blockwatch.collector.registry import Principal, Registry
from blockwatch.collector.validation import (
    Limits,
    check_batch_size,
    check_structure,
    validate_batch,
)
from blockwatch.collector.webcolumns import WebColumns, web_storage_table
from blockwatch.collector.webvalidation import (
    WebLimits,
    check_web_batch_size,
    check_web_structure,
    validate_web,
)
from blockwatch.collector.writer import IngestWriter, Outcome
from blockwatch.contract.vocabulary import RejectionCode, Transport
from blockwatch.v1 import probe_pb2 as pb
from blockwatch.v1 import probe_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ProbeService"].full_name
METHOD_ROLES = {
    f"/{SERVICE_NAME}/CheckIn": "probe",
    f"/{SERVICE_NAME}/Submit": "probe",
}
STREAM_WINDOW = 64   # batches read ahead of their acks on one stream
# A probe needs one Submit stream; a few allow for reconnects that overlap a
# stream the collector has not noticed is dead yet. More is a misbehaving or
# stolen token holding collector memory (each stream queues up to
# STREAM_WINDOW batches).
MAX_STREAMS_PER_PROBE = 4


def _fields(message: Any, kind: type[Columns]) -> dict[str, Sequence[Any]]:
    """Each repeated field of a columnar message (the collector's column names
    are the contract's, by construction)."""
    return {name: getattr(message, name) for name in kind.fields}


def columnar_to_columns(columns: pb.MeasurementColumns) -> MeasurementColumns:
    """Columnar form -> columns: each repeated field goes to Arrow in one
    C-level call."""
    return fill_absent(MeasurementColumns.from_sequences(_fields(columns, MeasurementColumns)))


def _reserved_numbers(message: Any) -> frozenset[int]:
    proto = DescriptorProto()
    message.DESCRIPTOR.CopyToProto(proto)
    return frozenset(n for r in proto.reserved_range for n in range(r.start, r.end))


# Field numbers the contract retired from Batch (the row form of probes 0.1).
# Protobuf keeps what a newer schema no longer names as unknown fields, so a
# batch that still carries them is recognised and refused, not read as empty.
RETIRED_BATCH_FIELDS = _reserved_numbers(pb.Batch)


def retired_items(batch: pb.Batch) -> int:
    """How many items of retired fields `batch` carries (each item of a
    repeated field is one unknown field: a row-form batch's measurement count)."""
    unknown = UnknownFieldSet(batch)
    return sum(unknown[i].field_number in RETIRED_BATCH_FIELDS for i in range(len(unknown)))


def batch_columns(batch: pb.Batch, limits: Limits) -> MeasurementColumns:
    """The batch's columns, structure checked; a batch in the retired row form
    is refused as a whole."""
    old = retired_items(batch)
    if old:
        raise ValidationError(
            f"the row form (Batch.measurements) is no longer accepted: {old} measurements "
            "not stored; upgrade the probe, it sends columns", field="measurements")
    check_batch_size(len(batch.columns.measurement_id), limits)
    columns = columnar_to_columns(batch.columns)
    check_structure(columns)
    return columns


def web_columns(batch: pb.Batch, limits: WebLimits) -> WebColumns | None:
    """The batch's web observations as columns (None when it carries none);
    structure checked."""
    if not batch.HasField("web"):
        return None
    check_web_batch_size(len(batch.web.observation_id), limits)
    columns = WebColumns.from_sequences(_fields(batch.web, WebColumns))
    check_web_structure(columns)
    return columns if len(columns) else None


def warm_up(limits: Limits) -> None:
    """Run one synthetic measurement through conversion, validation and
    reshaping. The first use of pyarrow's converters and compute kernels costs
    ~150 ms of one-off set-up; paid here, at start, it does not delay the
    first probe's first batch."""
    columns = pb.MeasurementColumns(
        measurement_id=[bytes(16)], round_id=["warm-up"], started_at_us=[time.time_ns() // 1000],
        duration_us=[1], domain=["example.org"], qtype=[1], qclass=[1],
        purpose=[pb.PURPOSE_CONTROL], resolver_name=["warm-up"], resolver_address=["192.0.2.1"],
        resolver_port=[53], resolver_transport=[pb.TRANSPORT_UDP], resolver_tls_name=[""],
        resolver_url=[""], failure=[pb.FAILURE_NONE], failure_text=[""], response_count=[1],
        arrival_us=[1], rcode=[0], flags=[0x8180], answer_count=[1], cname_count=[1],
        authority_count=[0], additional_count=[0], edns=[True], extended_error_count=[1],
        nsid=[b""], wire=[b""], size=[60], parse_error=[""], answer_name=["example.org"],
        answer_rtype=[1], answer_ttl=[60], answer_data=["192.0.2.2"], cname_chain=["a.example"],
        extended_error_code=[15], extended_error_text=["warm-up"])
    batch = batch_columns(pb.Batch(batch_id="warm-up", columns=columns), limits)
    validate_batch("warm-up", batch, limits, time.time_ns() // 1000)
    storage_table(batch)


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
        self._web_limits = WebLimits()
        self._assignment_for = assignment_for
        self._closing = closing
        self._streams: dict[str, int] = {}   # open Submit streams per probe
        warm_up(limits)

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
                                   purpose=cast("pb.Purpose", int(t.purpose))) for t in a.targets],
                resolvers=[pb.ResolverSpec(
                    name=r.name,
                    transport=cast("pb.Transport", int(Transport.from_label(r.transport))),
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
        malformed: list[str] = []

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
            except DecodeError as exc:
                # Bytes that are not a SubmitRequest (garbage, invalid UTF-8 in a
                # string): there is no batch id to reject, so the stream ends with
                # INVALID_ARGUMENT below, after the answers to what came before.
                malformed.append(str(exc) or type(exc).__name__)
            finally:
                await replies.put(None)

        await self._open_stream(probe.name, context)
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
            if malformed:
                await self._end_malformed(context, probe.name, malformed[0])
            if self._closing.is_set():
                # UNAVAILABLE, not OK: the probe reconnects (elsewhere) and resends.
                await context.abort(grpc.StatusCode.UNAVAILABLE, "collector is shutting down")
        finally:
            reader.cancel()
            closing.cancel()
            self._close_stream(probe.name)

    async def _open_stream(self, probe: str, context: grpc.aio.ServicerContext[Any, Any]
                           ) -> None:
        if self._streams.get(probe, 0) >= MAX_STREAMS_PER_PROBE:
            self._metrics.rejections.labels("too_many_streams").inc()
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"probe {probe!r} already has {MAX_STREAMS_PER_PROBE} open Submit streams")
        self._streams[probe] = self._streams.get(probe, 0) + 1
        self._metrics.streams.inc()

    def _close_stream(self, probe: str) -> None:
        self._metrics.streams.dec()
        left = self._streams.pop(probe, 1) - 1
        if left:
            self._streams[probe] = left

    async def _end_malformed(self, context: grpc.aio.ServicerContext[Any, Any], probe: str,
                             error: str) -> None:
        self._metrics.rejections.labels("malformed").inc()
        self._activity.seen(probe, rejected=1, error=error)
        log.warning("event=malformed_request probe=%s error=%r", probe, error)
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"malformed SubmitRequest, stream ended: {error}")

    def _accept(self, batch: pb.Batch, origin: Origin) -> Awaitable[pb.SubmitResponse]:
        """Validate now; return an awaitable answer (stored later, or rejected now)."""
        batch_id = batch.batch_id
        try:
            now_us = time.time_ns() // 1000
            columns = batch_columns(batch, self._limits)
            validate_batch(batch_id, columns, self._limits, now_us)
            web = web_columns(batch, self._web_limits)
            if web is not None:
                validate_web(web, self._web_limits, now_us)
        except ValidationError as exc:
            size = len(batch.columns.measurement_id) or retired_items(batch)
            return _done(self._reject(batch_id, origin, exc, size))
        future = self._writer.submit(Batch(batch_id, storage_table(columns),
                                           web_storage_table(web) if web is not None else None),
                                     origin)
        # A task, not a bare coroutine: the answer is accounted for even if the
        # stream dies before it is sent.
        return asyncio.ensure_future(self._answer(batch_id, origin, future))

    def _reject(self, batch_id: str, origin: Origin, exc: ValidationError,
                size: int) -> pb.SubmitResponse:
        code = RejectionCode.TOO_LARGE if isinstance(exc, BatchTooLarge) else RejectionCode.INVALID
        reason = code.label
        self._metrics.batches.labels("rejected").inc()
        self._metrics.measurements.labels("rejected").inc(size)
        self._metrics.rejections.labels(reason).inc()
        self._activity.seen(origin.probe_name, rejected=1, error=str(exc))
        log.warning("event=batch_rejected probe=%s batch=%s code=%s record=%d field=%s "
                    "reason=%r", origin.probe_name, batch_id, reason, exc.record_index,
                    exc.field, exc.reason)
        return pb.SubmitResponse(batch_id=batch_id, rejection=pb.Rejection(
            code=cast("pb.Rejection.Code", int(code)), reason=exc.reason,
            record_index=exc.record_index, field=exc.field))

    async def _answer(self, batch_id: str, origin: Origin, future: asyncio.Future[Outcome]
                      ) -> pb.SubmitResponse:
        try:
            outcome = await future
        except StorageUnavailable as exc:
            unavailable = RejectionCode.UNAVAILABLE
            self._metrics.batches.labels(unavailable.label).inc()
            self._metrics.rejections.labels(unavailable.label).inc()
            self._activity.seen(origin.probe_name, error=str(exc))
            return pb.SubmitResponse(batch_id=batch_id, rejection=pb.Rejection(
                code=cast("pb.Rejection.Code", int(unavailable)),
                reason=f"not stored, retry: {exc}", record_index=-1))
        self._metrics.batches.labels("duplicate" if outcome.duplicates else "stored").inc()
        self._metrics.measurements.labels("stored").inc(outcome.stored)
        self._metrics.measurements.labels("duplicate").inc(outcome.duplicates)
        self._activity.seen(origin.probe_name, batches=1, measurements=outcome.stored)
        log.debug("event=batch_acked probe=%s batch=%s stored=%d duplicates=%d",
                  origin.probe_name, batch_id, outcome.stored, outcome.duplicates)
        return pb.SubmitResponse(batch_id=batch_id, ack=pb.Ack(
            stored=outcome.stored, duplicates=outcome.duplicates,
            web_stored=outcome.web_stored, web_duplicates=outcome.web_duplicates))


def _done(response: pb.SubmitResponse) -> asyncio.Future[pb.SubmitResponse]:
    future: asyncio.Future[pb.SubmitResponse] = asyncio.get_running_loop().create_future()
    future.set_result(response)
    return future


def add_to_server(servicer: ProbeServicer, server: grpc.aio.Server) -> None:
    pb_grpc.add_ProbeServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]


def file_descriptor_names() -> tuple[str, ...]:
    """Service names for reflection."""
    return (SERVICE_NAME,)
