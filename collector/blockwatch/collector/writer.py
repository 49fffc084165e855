"""The ingest writer: one thread owns the ClickHouse client; batches from all
streams queue here and go to ClickHouse in groups (group commit).

chDB calls block, so they run on a dedicated thread and the grpc.aio loop keeps
serving. One thread also serializes inserts, which the batch-ledger lookup
relies on: a replay is always looked up after the insert it replays returned.
While one insert runs, the next batches queue up; the next insert takes all of
them (up to `max_rows`), so per-insert overhead is paid per group, not per batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from blockwatch.collector.columns import Batch, Origin
from blockwatch.collector.errors import CollectorError, StorageUnavailable
from blockwatch.collector.metrics import Metrics
from blockwatch.collector.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome:
    stored: int
    duplicates: int
    web_stored: int = 0
    web_duplicates: int = 0


@dataclass(slots=True)
class _Pending:
    batch: Batch
    origin: Origin
    future: asyncio.Future[Outcome]


class IngestWriter:
    def __init__(self, open_store: Callable[[], Store], metrics: Metrics,
                 *, max_rows: int = 100_000,
                 on_stored: Callable[[int], None] | None = None) -> None:
        self._open_store = open_store
        self._metrics = metrics
        self._max_rows = max_rows
        # told the receipt time (µs) of every group that wrote rows
        self._on_stored = on_stored
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._store: Store | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Store:
        self._store = await self.call(self._open_store)
        self._task = asyncio.create_task(self._run(), name="ingest-writer")
        return self._store

    @property
    def store(self) -> Store:
        if self._store is None:
            raise CollectorError("the ingest writer is not started")
        return self._store

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run any store operation on the ClickHouse thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def submit(self, batch: Batch, origin: Origin) -> asyncio.Future[Outcome]:
        """Queue a validated batch; the future resolves once it is durably stored
        (or raises StorageUnavailable)."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        if self._task is None or self._task.done():
            future.set_exception(StorageUnavailable("the collector is not accepting writes"))
        else:
            self._queue.put_nowait(_Pending(batch, origin, future))
        return future

    async def stop(self) -> None:
        """Finish every queued batch, then release ClickHouse."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
        if self._store is not None:
            await self.call(self._store.close)
            self._store = None
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            group = [first]
            rows = len(first.batch) + first.batch.web_rows
            while rows < self._max_rows and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                group.append(item)
                rows += len(item.batch) + item.batch.web_rows
            try:
                await self._write(group)
            except Exception as exc:
                # A bug around the insert must not end the writer silently with
                # streams waiting forever: this group is answered UNAVAILABLE
                # (probes keep and resend it), the failure is counted, and the
                # writer goes on with the next group.
                self._metrics.task_failures.labels("ingest-writer").inc()
                log.exception("event=task_failed task=ingest-writer batches=%d", len(group))
                error = StorageUnavailable(f"ingest writer failed: {exc!r}")
                for p in group:
                    if not p.future.done():
                        p.future.set_exception(error)

    async def _write(self, group: list[_Pending]) -> None:
        started = time.perf_counter()
        received_us = time.time_ns() // 1000
        try:
            result = await self.call(self.store.insert, [(p.batch, p.origin) for p in group],
                                     received_us)
        except Exception as exc:  # anything at all: these batches are not stored
            error = exc if isinstance(exc, StorageUnavailable) else StorageUnavailable(
                f"insert failed: {exc!r}")
            log.exception("event=insert_failed batches=%d", len(group))
            for p in group:
                if not p.future.done():
                    p.future.set_exception(error)
            return
        self._metrics.insert_seconds.observe(time.perf_counter() - started)
        if self._on_stored is not None and (result.written or result.web_written):
            self._on_stored(received_us)
        self._metrics.group_batches.observe(len(group))
        web_replayed = result.web_duplicate or tuple(False for _ in group)
        for p, replayed, web_seen in zip(group, result.duplicate, web_replayed, strict=True):
            n, w = len(p.batch), p.batch.web_rows
            if not p.future.done():
                p.future.set_result(Outcome(0 if replayed else n, n if replayed else 0,
                                            0 if web_seen else w, w if web_seen else 0))
