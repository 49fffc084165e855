"""ClickHouse storage through clickhouse-connect: the only module that talks to
ClickHouse for measurements.

The DSN picks the engine: `chdb:///path` is the embedded engine (one process
per path), `http(s)://host:8123` a server or cluster. The same SQL serves both.

Calls block (chDB runs in-process); callers on an event loop run them on one
dedicated thread (see `writer.py`), which also serializes inserts.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.exceptions import ClickHouseError

from blockwatch.collector.columns import Batch, Origin
from blockwatch.collector.errors import MigrationError, StorageError, StorageUnavailable
from blockwatch.collector.orders import OrderSet
from blockwatch.schema import errors as schema_errors
from blockwatch.schema.migrate import Migration, apply_migrations

log = logging.getLogger(__name__)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_TS = pa.timestamp("us", tz="UTC")
@dataclass(frozen=True, slots=True)
class InsertResult:
    """What one group insert did: rows written, and for each batch of the group
    (in order) whether it was already stored, so was not written again."""

    written: int
    duplicate: tuple[bool, ...]
    # the same for the batches' web observations (own table, own ledger)
    web_written: int = 0
    web_duplicate: tuple[bool, ...] = ()


def dedup_token(keys: Sequence[tuple[str, str]]) -> str:
    """insert_deduplication_token for a group: `<probe>:<batch_id>` for one batch
    (the common case and what a replay of that batch alone sends again), a hash
    of the sorted keys for several."""
    if len(keys) == 1:
        return f"{keys[0][0]}:{keys[0][1]}"
    digest = hashlib.sha256("\n".join(sorted(f"{p}:{b}" for p, b in keys)).encode())
    return "group:" + digest.hexdigest()


class Store:
    def __init__(self, dsn: str, database: str = "blockwatch", cluster: str = "", *,
                 settings: dict[str, Any] | None = None) -> None:
        if not _IDENT.fullmatch(database):
            raise StorageError(f"database name {database!r} is not an identifier")
        self.dsn = dsn
        self.database = database
        self.cluster = cluster
        try:
            self._client = clickhouse_connect.get_client(dsn=dsn, settings=settings or {})
            on = f" ON CLUSTER {cluster}" if cluster else ""
            self._client.command(f"CREATE DATABASE IF NOT EXISTS {database}{on}")
            self._client.database = database
        except (ClickHouseError, OSError) as exc:
            raise StorageError(f"cannot open ClickHouse at {_redact(dsn)}: {exc}") from exc

    def close(self) -> None:
        self._client.close()

    # -- schema -------------------------------------------------------------

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        try:
            self._client.command(sql, parameters=parameters)
        except ClickHouseError as exc:
            raise StorageError(str(exc)) from exc

    def rows(self, sql: str, parameters: dict[str, Any] | None = None
             ) -> list[tuple[object, ...]]:
        try:
            return [tuple(r) for r in self._client.query(sql, parameters=parameters).result_rows]
        except ClickHouseError as exc:
            raise StorageError(str(exc)) from exc

    def migrate(self) -> list[Migration]:
        try:
            return apply_migrations(self, self.cluster)
        except schema_errors.MigrationError as exc:   # the collector's errors are CollectorErrors
            raise MigrationError(exc.reason, version=exc.version) from exc

    # -- measurements ---------------------------------------------------------

    def stored_batches(self, keys: Iterable[tuple[str, str]], *,
                       ledger: str = "ingest_batches") -> set[tuple[str, str]]:
        """Which of these (probe, batch id) pairs the ledger already holds
        (`web_ingest_batches`: the web observations' ledger)."""
        wanted = list(set(keys))
        if not wanted:
            return set()
        found = self.rows(
            f"SELECT DISTINCT probe_name, batch_id FROM {ledger} "
            "WHERE (probe_name, batch_id) IN {keys:Array(Tuple(String, String))}",
            {"keys": wanted})
        return {(str(p), str(b)) for p, b in found}

    def insert(self, group: Sequence[tuple[Batch, Origin]], received_at_us: int) -> InsertResult:
        """Store a group of batches exactly once; raise StorageUnavailable when the
        insert did not complete (nothing may then be acknowledged)."""
        try:
            stored = self.stored_batches((o.probe_name, b.batch_id) for b, o in group)
        except StorageError as exc:
            raise StorageUnavailable(f"cannot read the batch ledger: {exc}") from exc
        fresh: list[tuple[Batch, Origin]] = []
        duplicate: list[bool] = []
        seen = set(stored)
        for batch, origin in group:
            key = (origin.probe_name, batch.batch_id)
            # stored before, or twice in this group (resent on a new stream)
            duplicate.append(key in seen)
            if key in seen:
                continue
            seen.add(key)
            if len(batch):
                fresh.append((batch, origin))
        web = self._insert_web(group, received_at_us)
        if not fresh:
            return InsertResult(0, tuple(duplicate), *web)
        table = _arrow_table(fresh, received_at_us)
        token = dedup_token([(o.probe_name, b.batch_id) for b, o in fresh])
        try:
            # optimize_on_insert=0: ReplacingMergeTree would otherwise collapse
            # equal keys inside each inserted block, a pass that cost ~1.5 µs a
            # row (a third of the insert). Exactly-once never relied on it: a
            # batch's ids are unique (validation), replays are stopped by the
            # ledger and the token, and what escapes them still collapses on
            # merge and is hidden by FINAL, as before.
            self._client.insert_arrow("measurements", table, settings={
                "insert_deduplication_token": token, "optimize_on_insert": 0})
        except (ClickHouseError, OSError) as exc:
            raise StorageUnavailable(f"insert of {table.num_rows} measurements failed: {exc}"
                                     ) from exc
        return InsertResult(table.num_rows, tuple(duplicate), *web)

    def _insert_web(self, group: Sequence[tuple[Batch, Origin]], received_at_us: int
                    ) -> tuple[int, tuple[bool, ...]]:
        """The group's web observations, exactly once through their own ledger and
        token: (rows written, per batch whether its observations were stored before).
        Runs before the measurements' insert; a failure of either leaves the batch
        unacknowledged, and its replay stores only the kind still missing."""
        carrying = [(b, o) for b, o in group if b.web_rows]
        if not carrying:
            return 0, tuple(False for _ in group)
        try:
            seen = self.stored_batches(((o.probe_name, b.batch_id) for b, o in carrying),
                                       ledger="web_ingest_batches")
        except StorageError as exc:
            raise StorageUnavailable(f"cannot read the web batch ledger: {exc}") from exc
        fresh: list[tuple[Batch, Origin]] = []
        duplicate: list[bool] = []
        for batch, origin in group:
            key = (origin.probe_name, batch.batch_id)
            duplicate.append(bool(batch.web_rows) and key in seen)
            if batch.web_rows and key not in seen:
                seen.add(key)
                fresh.append((batch, origin))
        if not fresh:
            return 0, tuple(duplicate)
        table = _arrow_table([(Batch(b.batch_id, b.web), o) for b, o in fresh
                              if b.web is not None], received_at_us)
        token = "web:" + dedup_token([(o.probe_name, b.batch_id) for b, o in fresh])
        try:
            self._client.insert_arrow("web_observations", table, settings={
                "insert_deduplication_token": token, "optimize_on_insert": 0})
        except (ClickHouseError, OSError) as exc:
            raise StorageUnavailable(
                f"insert of {table.num_rows} web observations failed: {exc}") from exc
        return table.num_rows, tuple(duplicate)

    def count(self, where: str = "1", parameters: dict[str, Any] | None = None) -> int:
        rows = self.rows(f"SELECT count() FROM measurements FINAL WHERE {where}", parameters)
        return int(str(rows[0][0]))

    # -- orders -----------------------------------------------------------------

    def replace_orders(self, orders: OrderSet, source: str = "") -> None:
        """Mirror the registry's orders into ClickHouse for report joins."""
        on = f" ON CLUSTER {self.cluster}" if self.cluster else ""
        try:
            for table in ("orders", "order_domains", "order_intermediaries",
                          "control_domains"):
                self._client.command(f"TRUNCATE TABLE IF EXISTS {table}{on}")
            if orders.orders:
                self._client.insert("orders", [
                    [o.order_id, o.authority, o.title, o.issued, o.deadline, list(o.countries),
                     list(o.intermediaries), source or o.source] for o in orders.orders],
                    column_names=["order_id", "authority", "title", "issued", "deadline",
                                  "countries", "intermediaries", "source"])
            domains = [[o.order_id, s.name, d.domain, d.kind, d.added]
                       for o in orders.orders for s in o.sites for d in s.domains]
            if domains:
                self._client.insert("order_domains", domains, column_names=[
                    "order_id", "site", "domain", "kind", "added"])
            groups = [[o.order_id, g.name, list(g.resolvers), list(g.networks)]
                      for o in orders.orders for g in o.intermediary_groups()]
            if groups:
                self._client.insert("order_intermediaries", groups, column_names=[
                    "order_id", "intermediary", "resolvers", "networks"])
            if orders.control_domains:
                self._client.insert("control_domains", [[d] for d in orders.control_domains],
                                    column_names=["domain"])
        except ClickHouseError as exc:
            raise StorageError(f"cannot mirror orders: {exc}") from exc


def _arrow_table(group: Sequence[tuple[Batch, Origin]], received_at_us: int) -> pa.Table:
    """The group's tables end to end (no copy: a table is a list of chunks)
    plus the per-batch constants the batch itself does not carry, each a
    value repeated in C per batch (converting a Python list of it cost ~0.3 µs
    a row on the writer's thread)."""
    table = pa.concat_tables([batch.table for batch, _ in group])
    columns: dict[str, list[pa.Array]] = {name: [] for name in _CONSTANTS}
    for batch, origin in group:
        n = len(batch)
        values = {"batch_id": batch.batch_id, "probe_name": origin.probe_name,
                  "probe_country": origin.country, "probe_asn": origin.asn,
                  "probe_control": origin.control, "received_at": received_at_us}
        for name, kind in _CONSTANTS.items():
            columns[name].append(pa.repeat(pa.scalar(values[name], kind), n))
    for name, kind in _CONSTANTS.items():
        table = table.append_column(name, pa.chunked_array(columns[name], kind))
    return table


# The per-batch constant columns of `measurements` and `web_observations`.
_CONSTANTS = {"batch_id": pa.string(), "probe_name": pa.string(),
              "probe_country": pa.string(), "probe_asn": pa.uint32(),
              "probe_control": pa.bool_(), "received_at": _TS}


def _redact(dsn: str) -> str:
    """A DSN without its password, for messages."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", dsn)
