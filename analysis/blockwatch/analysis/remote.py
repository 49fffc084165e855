"""The analyst's client for the collector's Reports RPC: the only analysis
module that imports generated blockwatch.v1 classes. Turns responses back into
`Report` values, so rendering is the same as for a direct `--db` query."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, cast

import grpc
import grpc.aio

from blockwatch.analysis.answer import Answer
from blockwatch.analysis.errors import RemoteError, UsageError
from blockwatch.analysis.filters import Filters, parse_time
from blockwatch.analysis.reports import Column, Kind, Report, Value
from blockwatch.analysis.status import Status
from blockwatch.v1 import reports_pb2 as pb
from blockwatch.v1 import reports_pb2_grpc as pb_grpc


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """`unix:/path` or `host:port`; TLS when a CA file is given."""

    address: str
    token: str
    ca: Path | None = None
    timeout_s: float = 300.0


def read_token(path: Path) -> str:
    try:
        token = path.read_text("utf-8").strip()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", field="token-file") from exc
    if not token:
        raise UsageError(f"{path} is empty", field="token-file")
    return token


def _channel(endpoint: Endpoint) -> grpc.aio.Channel:
    if endpoint.ca is not None:
        try:
            pem = endpoint.ca.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {endpoint.ca}: {exc.strerror}",
                             field="ca-file") from exc
        credentials = grpc.ssl_channel_credentials(pem)
        return grpc.aio.secure_channel(endpoint.address, credentials)
    return grpc.aio.insecure_channel(endpoint.address)


def _stub(channel: grpc.aio.Channel) -> Any:
    return pb_grpc.ReportServiceStub(channel)  # type: ignore[no-untyped-call]


def _filters(f: Filters) -> pb.ReportFilters:
    return pb.ReportFilters(order=f.order, country=f.country, resolver=f.resolver, site=f.site,
                            since=f.since.isoformat() if f.since else "",
                            until=f.until.isoformat() if f.until else "", by=f.by,
                            layer=f.layer)


def _value(v: pb.ReportValue) -> Value:
    which = v.WhichOneof("value")
    if which is None or which == "missing":
        return None
    return cast("Value", getattr(v, which))


def from_message(message: pb.ReportResponse) -> Report:
    return Report(
        name=message.name, title=message.title,
        columns=tuple(Column(c.title, cast("Kind", c.kind or "text")) for c in message.columns),
        rows=tuple(tuple(_value(v) for v in row.values) for row in message.rows))


def status_from(message: pb.ReportStatus) -> Status:
    return Status(measurements=message.measurements, verdicts=message.verdicts,
                  pending=message.pending,
                  pending_since=parse_time(message.pending_since) if message.pending_since
                  else None, late_follow_ups=message.late_follow_ups,
                  late_since=dt.date.fromisoformat(message.late_since) if message.late_since
                  else None)


def _error(exc: grpc.aio.AioRpcError) -> Exception:
    code = exc.code()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return UsageError(exc.details() or "invalid request")
    return RemoteError(exc.details() or str(code), code=code.name)


async def fetch_answer(endpoint: Endpoint, name: str, filters: Filters,
                       wait_s: float = 0.0) -> Answer:
    """The report and its status; the collector waits up to `wait_s` for
    pending classification first."""
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    async with _channel(endpoint) as channel:
        try:
            reply: pb.ReportResponse = await _stub(channel).Report(
                pb.ReportRequest(name=name, filters=_filters(filters), wait_seconds=wait_s),
                metadata=metadata, timeout=endpoint.timeout_s + wait_s)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc
    return Answer(from_message(reply), status_from(reply.status))


async def fetch_report(endpoint: Endpoint, name: str, filters: Filters) -> Report:
    return (await fetch_answer(endpoint, name, filters)).report


async def fetch_evidence(endpoint: Endpoint, kind: str, params: dict[str, str]) -> Report:
    """Rows of evidence (measurements, web follow-ups, ...) behind a figure."""
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    async with _channel(endpoint) as channel:
        try:
            reply: pb.ReportResponse = await _stub(channel).Evidence(
                pb.EvidenceRequest(kind=kind, params=params), metadata=metadata,
                timeout=endpoint.timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc
    return from_message(reply)


async def reclassify_remote(endpoint: Endpoint, since: str) -> dict[str, Any]:
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    async with _channel(endpoint) as channel:
        try:
            reply: pb.ReclassifyResponse = await _stub(channel).Reclassify(
                pb.ReclassifyRequest(since=since), metadata=metadata,
                timeout=endpoint.timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from exc
    return {"measurements": reply.measurements, "seconds": round(reply.seconds, 3),
            "classifier_version": reply.classifier_version}


def answer(endpoint: Endpoint, name: str, filters: Filters, wait_s: float = 0.0) -> Answer:
    """Blocking form for the CLI."""
    return asyncio.run(fetch_answer(endpoint, name, filters, wait_s))
