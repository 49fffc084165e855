"""The cluster rewrite of the layered tables (issue 13): reclassify deletes
from `{table}_local` on a cluster (storage._delete), so every table it deletes
from must be sharded (a Replicated `_local` table under a Distributed one);
the rollups' views read and write the local tables of their shard."""

from __future__ import annotations

import re
from pathlib import Path

from blockwatch.schema.migrate import SHARDING_KEYS, load_migrations

STORAGE = Path(__file__).parents[2] / "analysis/blockwatch/analysis/storage.py"


def _cluster_text() -> str:
    return "\n".join(s for m in load_migrations() for s in m.statements("c1"))


def test_every_table_reclassify_deletes_from_is_sharded() -> None:
    deleted = set(re.findall(r'_delete\(db, "(\w+)"', STORAGE.read_text("utf-8")))
    assert {"verdicts", "web_verdicts", "site_verdicts", "layers_daily",
            "layers_sites_daily"} <= deleted
    text = _cluster_text()
    for table in sorted(deleted):
        assert table in SHARDING_KEYS, table
        assert f"CREATE TABLE IF NOT EXISTS {table}_local ON CLUSTER c1" in text, table
        assert re.search(rf"CREATE TABLE IF NOT EXISTS {table} ON CLUSTER c1 AS {table}_local\n"
                         rf"ENGINE = Distributed\(c1, currentDatabase\(\), {table}_local, ",
                         text), table


def test_layer_rollups_are_filled_on_each_shard_from_its_site_verdicts() -> None:
    text = _cluster_text()
    assert ("CREATE MATERIALIZED VIEW IF NOT EXISTS layers_daily_mv ON CLUSTER c1 "
            "TO layers_daily_local AS") in text
    assert ("CREATE MATERIALIZED VIEW IF NOT EXISTS layers_sites_daily_mv ON CLUSTER c1 "
            "TO layers_sites_daily_local AS") in text
    assert "FROM site_verdicts_local" in text and "FROM site_verdicts\n" not in text
    # the column 0010 adds reaches both the local and the Distributed table
    assert "ALTER TABLE web_verdicts_local ON CLUSTER c1 ADD COLUMN" in text
    assert "ALTER TABLE web_verdicts ON CLUSTER c1 ADD COLUMN" in text


def test_small_tables_are_replicated_whole() -> None:
    text = _cluster_text()
    for table in ("order_intermediaries", "mirror_candidates", "candidate_rejections"):
        assert table not in SHARDING_KEYS
        assert f"'/clickhouse/tables/all/{{database}}/{table}', '{{shard}}-{{replica}}'" in text
