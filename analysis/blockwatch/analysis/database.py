"""Access to ClickHouse for reports and classification.

`Database` is what the analysis needs (rows, commands, inserts); the CLI and
tests use `ClickHouseDatabase` on a DSN (`chdb:///path` embedded, or
`http(s)://host:8123` a server or cluster), and the collector adapts its own
store to the same protocol so the same SQL and code run in both places.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from blockwatch.analysis.errors import QueryError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class Database(Protocol):
    cluster: str

    def rows(self, sql: str, parameters: dict[str, Any] | None = None
             ) -> list[tuple[Any, ...]]: ...

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None: ...

    def insert(self, table: str, columns: Sequence[str],
               rows: Sequence[Sequence[Any]]) -> None: ...


class ClickHouseDatabase:
    """A clickhouse-connect client on a DSN. chDB lets one process open one
    path: with a collector serving that path, use the Reports RPC instead."""

    def __init__(self, dsn: str, database: str = "blockwatch", cluster: str = "") -> None:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import ClickHouseError

        if not _IDENT.fullmatch(database):
            raise QueryError(f"database name {database!r} is not an identifier")
        self.cluster = cluster
        self._errors: tuple[type[BaseException], ...] = (ClickHouseError, OSError)
        try:
            self._client = clickhouse_connect.get_client(dsn=dsn)
            self._client.database = database
        except self._errors as exc:
            raise QueryError(f"cannot open ClickHouse at {_redact(dsn)}: {exc}") from exc

    def close(self) -> None:
        self._client.close()

    def rows(self, sql: str, parameters: dict[str, Any] | None = None
             ) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._client.query(sql, parameters=parameters).result_rows]
        except self._errors as exc:
            raise QueryError(_first_line(exc)) from exc

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        try:
            self._client.command(sql, parameters=parameters)
        except self._errors as exc:
            raise QueryError(_first_line(exc)) from exc

    def insert(self, table: str, columns: Sequence[str],
               rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            self._client.insert(table, list(rows), column_names=list(columns))
        except self._errors as exc:
            raise QueryError(f"insert into {table} failed: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


def _redact(dsn: str) -> str:
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", dsn)
