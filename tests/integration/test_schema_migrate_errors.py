"""A migration the engine refuses is the collector's own error (a
CollectorError the CLI prints as one line) and blockwatch.schema's, naming the
migration: the schema lives in a lower package, the collector still owns how
it reports a failure."""

from __future__ import annotations

import time

import pytest

from blockwatch.collector.errors import CollectorError
from blockwatch.collector.errors import MigrationError as CollectorMigrationError
from blockwatch.collector.store import Store
from blockwatch.schema.errors import MigrationError
from tests.integration.collector_harness import chdb_dsn


def test_a_refused_migration_is_a_collector_error_naming_it(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    store = Store(chdb_dsn(tmp_path_factory), f"refused{time.monotonic_ns()}")
    try:
        # a table of that name but not that shape: later statements cannot apply
        store.command("CREATE TABLE measurements (x UInt8) ENGINE = MergeTree ORDER BY x")
        with pytest.raises(CollectorMigrationError) as caught:
            store.migrate()
        error = caught.value
        assert isinstance(error, CollectorError) and isinstance(error, MigrationError)
        assert error.version >= 1
        assert str(error).startswith(f"migration {error.version:04d}: ")
        assert "\n" not in str(error)
    finally:
        store.close()
