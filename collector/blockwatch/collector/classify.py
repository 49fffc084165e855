"""Verdicts inside the collector: a background pass that classifies what was
stored (blockwatch.analysis rules), and reclassification on request from the
Reports RPC.

Both run on the ingest writer's ClickHouse thread (`IngestWriter.call`): chDB
admits one client per process path and the store's client is not
thread-safe. Each call handles at most one chunk, so inserts queued meanwhile
wait for one chunk, not for a whole backlog.

Classification waits `settle_s` after a measurement arrived: its verdict
compares with the control resolution nearest in time, whose batch (from a
control probe) may arrive a little later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from blockwatch.analysis.fingerprints import FingerprintSet, load_fingerprints
from blockwatch.analysis.storage import ClassifyResult, classify_pending, reclassify
from blockwatch.collector.store import Store
from blockwatch.collector.writer import IngestWriter

log = logging.getLogger(__name__)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        stamp = value.astimezone(dt.UTC) if value.tzinfo else value
        return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


class StoreDatabase:
    """The collector's Store as the analysis package's `Database`.

    Inserts go as `INSERT ... FORMAT JSONEachRow` through `Store.command`: the
    store exposes no generic insert, and verdict chunks are small next to
    measurement ingest.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.cluster = store.cluster

    def rows(self, sql: str, parameters: dict[str, Any] | None = None
             ) -> list[tuple[Any, ...]]:
        return self._store.rows(sql, parameters)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self._store.command(sql, parameters)

    def insert(self, table: str, columns: Sequence[str],
               rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        body = "\n".join(json.dumps(dict(zip(columns, map(_json_value, row), strict=True)))
                         for row in rows)
        self._store.command(f"INSERT INTO {table} FORMAT JSONEachRow\n{body}")


class ClassifyPass:
    def __init__(self, writer: IngestWriter, *, interval_s: float = 10.0,
                 settle_s: float = 60.0, fingerprints: FingerprintSet | None = None) -> None:
        self.interval_s = interval_s
        self.settle_s = settle_s
        self.fingerprints = fingerprints or load_fingerprints()
        self._writer = writer
        self._lock = asyncio.Lock()   # a pass and a reclassify never interleave

    def _database(self) -> StoreDatabase:
        return StoreDatabase(self._writer.store)

    async def run_once(self) -> int:
        """Classify what has settled, chunk by chunk; returns measurements done.

        The server runs it under supervision (supervise.py): any error is
        logged, counted, shown in health and retried after a backoff (verdicts
        are derived data: nothing is lost, only late)."""
        done = 0
        async with self._lock:
            while True:
                result: ClassifyResult = await self._writer.call(
                    lambda: classify_pending(self._database(), self.fingerprints,
                                             settle_s=self.settle_s))
                done += result.measurements
                if not result.measurements:
                    return done

    async def reclassify(self, since: dt.date | None) -> ClassifyResult:
        async with self._lock:
            return await self._writer.call(
                lambda: reclassify(self._database(), self.fingerprints, since,
                                   settle_s=self.settle_s))

