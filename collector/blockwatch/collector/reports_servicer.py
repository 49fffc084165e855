"""The Reports RPC adapter (blockwatch.v1.ReportService): the only collector
module besides servicer.py that imports generated classes. Analyst tokens only
(METHOD_ROLES; the auth interceptor enforces them). Queries run on the ingest
writer's ClickHouse thread: while the collector serves, it owns the database.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
import grpc.aio

from blockwatch.analysis.classify import classifier_version
from blockwatch.analysis.errors import AnalysisError, UsageError
from blockwatch.analysis.filters import Filters, parse_day
from blockwatch.analysis.reports import Report, Value, build_report
from blockwatch.collector.auth import current_principal
from blockwatch.collector.classify import ClassifyPass, StoreDatabase
from blockwatch.collector.errors import CollectorError
from blockwatch.collector.writer import IngestWriter
from blockwatch.v1 import reports_pb2 as pb
from blockwatch.v1 import reports_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ReportService"].full_name
METHOD_ROLES = {
    f"/{SERVICE_NAME}/Report": "analyst",
    f"/{SERVICE_NAME}/Reclassify": "analyst",
}


def filters_from(request: pb.ReportFilters) -> Filters:
    return Filters(order=request.order, country=request.country, resolver=request.resolver,
                   site=request.site, since=parse_day(request.since, "since"),
                   until=parse_day(request.until, "until"), by=request.by)


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


def to_message(report: Report) -> pb.ReportResponse:
    return pb.ReportResponse(
        name=report.name, title=report.title,
        columns=[pb.ReportColumn(title=c.title, kind=c.kind) for c in report.columns],
        rows=[pb.ReportRow(values=[_value(v) for v in row]) for row in report.rows])


class ReportServicer(pb_grpc.ReportServiceServicer):
    def __init__(self, writer: IngestWriter, classifier: ClassifyPass) -> None:
        self._writer = writer
        self._classifier = classifier

    async def Report(self, request: pb.ReportRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> pb.ReportResponse:
        analyst = current_principal()
        try:
            filters = filters_from(request.filters)
            report = await self._writer.call(
                lambda: build_report(request.name, filters,
                                     StoreDatabase(self._writer.store).rows))
        except UsageError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise
        except (AnalysisError, CollectorError) as exc:
            log.warning("event=report_failed analyst=%s report=%s error=%r", analyst.name,
                        request.name, str(exc))
            await context.abort(grpc.StatusCode.INTERNAL, f"report failed: {exc}")
            raise
        log.info("event=report analyst=%s report=%s rows=%d", analyst.name, request.name,
                 len(report.rows))
        return to_message(report)

    async def Reclassify(self, request: pb.ReclassifyRequest,
                         context: grpc.aio.ServicerContext[Any, Any]) -> pb.ReclassifyResponse:
        analyst = current_principal()
        try:
            since = parse_day(request.since, "since")
            result = await self._classifier.reclassify(since)
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
