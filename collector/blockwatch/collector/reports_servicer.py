"""The Reports RPC adapter (blockwatch.v1.ReportService): the only collector
module besides servicer.py that imports generated classes. Analyst tokens only
(METHOD_ROLES; the auth interceptor enforces them). Queries run on the
analysis lane (lane.py), never on the ingest writer's client: while the
collector serves, it owns the database, and analysts must not slow ingest.
Heavy calls pass the analyst gate: a bounded queue, then RESOURCE_EXHAUSTED
with what is going on; one reclassify at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc
import grpc.aio

from blockwatch.analysis.answer import Answer, answer
from blockwatch.analysis.dnsverdicts import classifier_version
from blockwatch.analysis.errors import AnalysisError, UsageError
from blockwatch.analysis.filters import Filters, parse_day
from blockwatch.analysis.reports import Report, Value, iso_time
from blockwatch.analysis.status import Status, read_status
from blockwatch.collector.auth import current_principal
from blockwatch.collector.errors import CollectorError
from blockwatch.collector.lane import AnalysisLane, AnalystGate, Busy
from blockwatch.collector.verdictpass import StoreDatabase, VerdictPass
from blockwatch.v1 import reports_pb2 as pb
from blockwatch.v1 import reports_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ReportService"].full_name
METHOD_ROLES = {
    f"/{SERVICE_NAME}/Report": "analyst",
    f"/{SERVICE_NAME}/Reclassify": "analyst",
    f"/{SERVICE_NAME}/Evidence": "analyst",
}


MAX_WAIT_S = 900.0      # --wait is bounded here too, whatever the client asks
_POLL_S = 0.5


def filters_from(request: pb.ReportFilters) -> Filters:
    return Filters.parse(order=request.order, country=request.country,
                         resolver=request.resolver, site=request.site, since=request.since,
                         until=request.until, by=request.by, layer=request.layer)


def _value(value: Value) -> pb.ReportValue:
    if value is None:
        return pb.ReportValue(missing=True)
    if isinstance(value, bool):   # never produced; keep bools from becoming ints
        return pb.ReportValue(text="yes" if value else "no")
    if isinstance(value, int):
        return pb.ReportValue(integer=value)
    if isinstance(value, float):
        return pb.ReportValue(number=value)
    return pb.ReportValue(text=value)


def status_message(status: Status) -> pb.ReportStatus:
    return pb.ReportStatus(measurements=status.measurements, verdicts=status.verdicts,
                           pending=status.pending,
                           pending_since=iso_time(status.pending_since) or "",
                           late_follow_ups=status.late_follow_ups,
                           late_since=status.late_since.isoformat() if status.late_since
                           else "")


def to_message(report: Report, status: Status | None = None) -> pb.ReportResponse:
    return pb.ReportResponse(
        name=report.name, title=report.title,
        columns=[pb.ReportColumn(title=c.title, kind=c.kind) for c in report.columns],
        rows=[pb.ReportRow(values=[_value(v) for v in row]) for row in report.rows],
        status=status_message(status) if status is not None else None)


class ReportServicer(pb_grpc.ReportServiceServicer):
    def __init__(self, lane: AnalysisLane, classifier: VerdictPass,
                 gate: AnalystGate | None = None) -> None:
        self._lane = lane
        self._classifier = classifier
        self._gate = gate or AnalystGate()

    async def Report(self, request: pb.ReportRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> pb.ReportResponse:
        analyst = current_principal()
        try:
            filters = filters_from(request.filters)
            await self._wait(min(max(0.0, request.wait_seconds), MAX_WAIT_S))
            async with self._gate.admit(f"report {request.name}"):
                result: Answer = await self._lane.call(
                    lambda: answer(request.name, filters, StoreDatabase(self._lane.store).rows))
        except Busy as exc:
            log.warning("event=report_refused analyst=%s report=%s reason=busy", analyst.name,
                        request.name)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            raise
        except UsageError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise
        except (AnalysisError, CollectorError) as exc:
            log.warning("event=report_failed analyst=%s report=%s error=%r", analyst.name,
                        request.name, str(exc))
            await context.abort(grpc.StatusCode.INTERNAL, f"report failed: {exc}")
            raise
        log.info("event=report analyst=%s report=%s rows=%d pending=%d", analyst.name,
                 request.name, len(result.report.rows), result.status.pending)
        return to_message(result.report, result.status)

    async def _wait(self, wait_s: float) -> None:
        """Until nothing awaits classification, or wait_s passed (the answer's
        status then says what remains)."""
        if wait_s <= 0:
            return
        deadline = time.monotonic() + wait_s
        while True:
            status = await self._lane.call(
                lambda: read_status(StoreDatabase(self._lane.store).rows))
            if not status.pending or time.monotonic() >= deadline:
                return
            await asyncio.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))

    async def Evidence(self, request: pb.EvidenceRequest,
                       context: grpc.aio.ServicerContext[Any, Any]) -> pb.ReportResponse:
        """The evidence behind figures (web view); bounded, parameters validated
        by the analysis package's evidence module."""
        from blockwatch.analysis.webview.evidence import evidence

        analyst = current_principal()
        params = dict(request.params)
        try:
            async with self._gate.admit("evidence"):
                report = await self._lane.call(
                    lambda: evidence(request.kind, params, StoreDatabase(self._lane.store).rows))
        except Busy as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            raise
        except UsageError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise
        except (AnalysisError, CollectorError) as exc:
            log.warning("event=evidence_failed analyst=%s kind=%s error=%r", analyst.name,
                        request.kind[:40], str(exc))
            await context.abort(grpc.StatusCode.INTERNAL, f"evidence failed: {exc}")
            raise
        return to_message(report)

    async def Reclassify(self, request: pb.ReclassifyRequest,
                         context: grpc.aio.ServicerContext[Any, Any]) -> pb.ReclassifyResponse:
        analyst = current_principal()
        try:
            since = parse_day(request.since, "since")
            async with self._gate.reclassifying():
                result = await self._classifier.reclassify(since)
        except Busy as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            raise
        except UsageError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise
        except (AnalysisError, CollectorError) as exc:
            await context.abort(grpc.StatusCode.INTERNAL, f"reclassify failed: {exc}")
            raise
        log.info("event=reclassified analyst=%s since=%s measurements=%d", analyst.name,
                 request.since or "-", result.measurements)
        return pb.ReclassifyResponse(
            measurements=result.measurements, seconds=result.seconds,
            classifier_version=classifier_version(self._classifier.fingerprints))


def add_to_server(servicer: ReportServicer, server: grpc.aio.Server) -> None:
    pb_grpc.add_ReportServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]


def file_descriptor_names() -> tuple[str, ...]:
    return (SERVICE_NAME,)
