"""The classification queries' CTEs computed once (materialize.py): every name
they list is a CTE of their query, the engine we ship has the setting, and a
query that does not define a name is refused rather than run inlined."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.analysis import rules_sql, sitesql
from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.errors import QueryError
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.materialize import (
    SETTING,
    engine_materializes,
    for_engine,
    materialized,
)


def test_each_listed_cte_is_marked_once_and_the_setting_is_on() -> None:
    dns_sql, _ = rules_sql.classify_sql(load_fingerprints(), "v")
    for sql, names in ((dns_sql, rules_sql.MATERIALIZED_CTES),
                       (sitesql.site_sql(), sitesql.MATERIALIZED_CTES)):
        out = materialized(sql, names)
        for name in names:
            assert out.count(f"\n{name} AS MATERIALIZED (\n") == 1
        assert f"SETTINGS {SETTING} = 1, join_use_nulls = 0" in out
        assert out.count("MATERIALIZED (") == len(names)


def test_a_name_the_query_does_not_define_is_refused() -> None:
    with pytest.raises(QueryError, match="'nothere'"):
        materialized("WITH\na AS (\nSELECT 1)\nSELECT * FROM a\nSETTINGS x = 1", ["nothere"])


def test_the_embedded_engine_materializes(tmp_path: Path) -> None:
    db = ClickHouseDatabase(f"chdb://{tmp_path / 'db'}", "default")
    try:
        assert engine_materializes(db)
        sql = for_engine(db, "WITH\nt AS (\nSELECT number FROM numbers(10))\n"
                         "SELECT count() FROM t WHERE number IN (SELECT number FROM t)\n"
                         "SETTINGS max_threads = 1", ["t"])
        assert "t AS MATERIALIZED (" in sql
        assert db.rows(sql) == [(10,)]
    finally:
        db.close()
