"""Where the web view's numbers come from: a database it opens itself (`--db`,
tokens checked against the collector's registry file) or a running collector
(`--collector`, each request carrying the analyst's own token to the Reports
RPC, so the collector decides who may read). Both return the report
functions' `Report`s (reports.py, evidence.py): one source of numbers."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from blockwatch.analysis.answer import Answer
from blockwatch.analysis.errors import AnalysisError, RemoteError, UsageError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.known import check_known
from blockwatch.analysis.reports import REPORTS, Report, build_report, check_request
from blockwatch.analysis.status import read_status
from blockwatch.analysis.webview.evidence import evidence

Request = tuple[str, Filters]


class Denied(AnalysisError):
    """The token is unknown, revoked, or not an analyst's."""


class Source(Protocol):
    async def authenticate(self, token: str) -> str:
        """The analyst's name; Denied otherwise."""
        ...

    async def answers(self, token: str, requests: Sequence[Request]) -> list[Answer]: ...

    async def evidence(self, token: str, kind: str, params: Mapping[str, str]) -> Report: ...


class LocalSource:
    """A ClickHouse server or a chDB path no collector holds; analyst tokens
    from the collector's registry (its data directory's registry.db)."""

    def __init__(self, db: Any, registry_path: Path) -> None:
        from blockwatch.collector.registry import Registry

        self._db = db
        self._registry = Registry(registry_path)
        self._lock = threading.Lock()   # one query at a time on the embedded engine

    async def authenticate(self, token: str) -> str:
        def check() -> str:
            with self._lock:
                principal = self._registry.authenticate(token)
            if principal is None:
                raise Denied("unknown or revoked token")
            if principal.role != "analyst":
                raise Denied(f"a {principal.role} token cannot read reports")
            return principal.name
        return await run_in_threadpool(check)

    def _query(self, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.rows(sql, parameters))

    async def answers(self, token: str, requests: Sequence[Request]) -> list[Answer]:
        def run() -> list[Answer]:
            # the status and known filter values once per page, not per table
            status = read_status(self._query)
            checked: set[tuple[str, Filters]] = set()
            out = []
            for name, filters in requests:
                check_request(name, filters)
                key = (",".join(sorted(REPORTS[name].filters)), filters)
                if not status.empty and key not in checked:
                    check_known(filters, self._query, REPORTS[name].filters)
                    checked.add(key)
                out.append(Answer(build_report(name, filters, self._query), status))
            return out
        await self.authenticate(token)
        return await run_in_threadpool(run)

    async def evidence(self, token: str, kind: str, params: Mapping[str, str]) -> Report:
        await self.authenticate(token)
        return await run_in_threadpool(evidence, kind, dict(params), self._query)


@dataclass(frozen=True, slots=True)
class RemoteSource:
    """A running collector's Reports RPC (unix:/path or host:port, TLS with a CA)."""

    address: str
    ca: Path | None = None
    timeout_s: float = 60.0

    def _endpoint(self, token: str) -> Any:
        from blockwatch.analysis.remote import Endpoint

        return Endpoint(self.address, token, self.ca, self.timeout_s)

    async def authenticate(self, token: str) -> str:
        # the cheapest analyst-only call; the collector knows the tokens
        await self.evidence(token, "orders", {"order": ""})
        return "analyst"

    async def answers(self, token: str, requests: Sequence[Request]) -> list[Answer]:
        from blockwatch.analysis.remote import fetch_answer

        try:
            return [await fetch_answer(self._endpoint(token), n, f) for n, f in requests]
        except RemoteError as exc:
            raise _denied(exc) from exc

    async def evidence(self, token: str, kind: str, params: Mapping[str, str]) -> Report:
        import grpc.aio

        from blockwatch.analysis import remote
        from blockwatch.v1 import reports_pb2 as pb
        from blockwatch.v1 import reports_pb2_grpc as pb_grpc

        endpoint = self._endpoint(token)
        request = pb.EvidenceRequest(kind=kind, params=dict(params))
        async with remote._channel(endpoint) as channel:
            stub: Any = pb_grpc.ReportServiceStub(channel)  # type: ignore[no-untyped-call]
            try:
                reply = await stub.Evidence(
                    request, metadata=(("authorization", f"Bearer {token}"),),
                    timeout=self.timeout_s)
            except grpc.aio.AioRpcError as exc:
                error = remote._error(exc)
                raise (_denied(error) if isinstance(error, RemoteError) else error) from exc
        return remote.from_message(reply)


def _denied(exc: RemoteError) -> AnalysisError:
    if exc.code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return Denied(str(exc))
    return exc


__all__ = ["Denied", "LocalSource", "RemoteSource", "Source", "UsageError"]
