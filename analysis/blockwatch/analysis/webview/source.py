"""Where the web view's numbers come from: a database it opens itself (`--db`,
tokens checked against the collector's registry file, read through
blockwatch.schema.principals) or a running collector
(`--collector`, each request carrying the analyst's own token to the Reports
RPC, so the collector decides who may read). Both return the report
functions' `Report`s (reports.py, evidence.py): one source of numbers."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from blockwatch.analysis.answer import Answer
from blockwatch.analysis.errors import AnalysisError, RemoteError, UsageError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.known import check_known
from blockwatch.analysis.reports import REPORTS, Report, build_report, check_request
from blockwatch.analysis.status import Status, read_status
from blockwatch.analysis.webview.evidence import evidence
from blockwatch.schema.principals import TokenReader

Request = tuple[str, Filters]
STATUS_TTL_S = 1.0
CACHE_ENTRIES = 512


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
        self._db = db
        self._registry = TokenReader(registry_path)
        self._lock = threading.Lock()   # one query at a time on the embedded engine
        # Results per request, kept while the data is unchanged: a read-only view
        # re-reads only when the collector stored or classified something (the
        # status, read at most every STATUS_TTL_S seconds, is the version).
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._status: Status | None = None
        self._status_at = -1e9

    async def authenticate(self, token: str) -> str:
        def check() -> str:
            with self._lock:
                principal = self._registry.holder(token)
            if principal is None:
                raise Denied("unknown or revoked token")
            if principal.role != "analyst":
                raise Denied(f"a {principal.role} token cannot read reports")
            return principal.name
        return await run_in_threadpool(check)

    def _query(self, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.rows(sql, parameters))

    def _report_query(self, sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Rows per query text and the parameters it uses: two reports of one
        query (compliance with and without --by domain: the order page shows
        both) run it once."""
        used = tuple(sorted((k, repr(v)) for k, v in parameters.items() if f"{{{k}:" in sql))
        return self._cached(("rows", sql, used), partial(self._query, sql, parameters))  # type: ignore[no-any-return]

    def _current(self) -> Status:
        """The data's status; a change empties the cache."""
        now = time.monotonic()
        if self._status is None or now - self._status_at > STATUS_TTL_S:
            status = read_status(self._query)
            if status != self._status:
                self._cache.clear()
            self._status, self._status_at = status, now
        return self._status

    def _cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = compute()
        self._cache[key] = value
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return value

    async def answers(self, token: str, requests: Sequence[Request]) -> list[Answer]:
        def run() -> list[Answer]:
            status = self._current()
            out = []
            for name, filters in requests:
                check_request(name, filters)
                spec = REPORTS[name]
                if not status.empty:
                    self._cached(("known", spec.filters, filters),
                                 partial(check_known, filters, self._query, spec.filters))
                report = self._cached(("report", name, filters),
                                      partial(build_report, name, filters, self._report_query))
                out.append(Answer(report, status))
            return out
        await self.authenticate(token)
        return await run_in_threadpool(run)

    async def evidence(self, token: str, kind: str, params: Mapping[str, str]) -> Report:
        def run() -> Report:
            self._current()
            key = ("evidence", kind, tuple(sorted(params.items())))
            return self._cached(  # type: ignore[no-any-return]
                key, lambda: evidence(kind, dict(params), self._report_query))
        await self.authenticate(token)
        return await run_in_threadpool(run)


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
        from blockwatch.analysis.remote import fetch_evidence

        try:
            return await fetch_evidence(self._endpoint(token), kind, dict(params))
        except RemoteError as exc:
            raise _denied(exc) from exc


def _denied(exc: RemoteError) -> AnalysisError:
    if exc.code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return Denied(str(exc))
    return exc


__all__ = ["Denied", "LocalSource", "RemoteSource", "Source", "UsageError"]
