"""Migrations: files load in order; the cluster rewrite has the expected shape
(the engine parses it in tests/integration/test_collector_service.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.collector.errors import ConfigError
from blockwatch.collector.settings import Settings, is_loopback
from blockwatch.schema.errors import MigrationError
from blockwatch.schema.migrate import clusterize, load_migrations, split_statements


def test_migrations_load_in_order() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.statements() for m in migrations)


def test_cluster_rewrite_shards_measurements_and_replicates_orders() -> None:
    statements = [s for m in load_migrations() for s in m.statements("c1")]
    text = "\n".join(statements)
    assert "CREATE TABLE IF NOT EXISTS measurements_local ON CLUSTER c1" in text
    assert "non_replicated_deduplication_window" not in text
    assert "TO ingest_batches_local AS" in text and "FROM measurements_local" in text
    assert "'/clickhouse/tables/all/{database}/orders', '{shard}-{replica}'" in text
    ddl = [s for s in statements if not s.startswith("INSERT INTO ")]
    assert all("ON CLUSTER c1" in s for s in ddl)


def test_cluster_rewrite_puts_indexes_and_settings_on_the_local_tables_only() -> None:
    statements = [s for m in load_migrations() for s in m.statements("c1")]
    indexes = [s for s in statements if " INDEX " in s]
    assert "ALTER TABLE measurements_local ON CLUSTER c1 ADD INDEX IF NOT EXISTS " \
        "received_at_minmax received_at TYPE minmax GRANULARITY 1" in indexes
    # a Distributed table has no indexes: ClickHouse refuses ADD INDEX on it
    assert indexes and all(s.split()[2].endswith("_local") for s in indexes)
    # nor MergeTree settings
    tuned = [s for s in statements if " MODIFY SETTING " in s]
    assert tuned and all(s.split()[2].endswith("_local") for s in tuned)


def test_cluster_backfills_run_once_through_the_distributed_tables() -> None:
    statements = [s for m in load_migrations() for s in m.statements("c1")]
    copies = [s for s in statements if s.startswith("INSERT INTO ")]
    # once (ON CLUSTER would copy every shard's rows to every shard), by the
    # tables' own names: the Distributed ones read and write every shard
    assert copies and not any("ON CLUSTER" in s or "_local" in s for s in copies)
    assert "CREATE TABLE IF NOT EXISTS control_resolutions_local ON CLUSTER c1" in "\n".join(
        statements)


def test_cluster_name_must_be_an_identifier() -> None:
    with pytest.raises(MigrationError):
        clusterize("CREATE TABLE IF NOT EXISTS x (a String) ENGINE = MergeTree ORDER BY a",
                   "c1; DROP")


def test_split_statements_drops_comments() -> None:
    assert split_statements("-- a;\nSELECT 1;\n\n-- b\nSELECT 2;") == ["SELECT 1", "SELECT 2"]


def test_plaintext_only_on_loopback_or_insecure(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1:4443") and is_loopback("[::1]:1") and is_loopback("localhost:1")
    assert not is_loopback("0.0.0.0:4443")
    base = Settings(data_dir=tmp_path, db="chdb:///x", listen=("0.0.0.0:4443",))
    with pytest.raises(ConfigError):
        base.check_serving()
    Settings(data_dir=tmp_path, db="chdb:///x", listen=("0.0.0.0:4443",),
             insecure=True).check_serving()
    Settings(data_dir=tmp_path, db="chdb:///x", unix=str(tmp_path / "s")).check_serving()
