"""A migrated database (real chDB) stores each contract word under the
number the contract gives it: every Enum8 column ClickHouse reports is
checked against its vocabulary (tests/unit/test_contract_vocabulary.py)."""

from __future__ import annotations

import time

import pytest

from blockwatch.collector.store import Store
from tests.integration.collector_harness import chdb_dsn
from tests.unit.test_contract_vocabulary import _ENUM8, _OWN_WORDS, _VALUE, expected_words


def test_migrated_enum8_columns_hold_the_vocabularies(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    store = Store(chdb_dsn(tmp_path_factory), f"contract{time.monotonic_ns()}")
    try:
        store.migrate()
        # Tables only: a materialized view's columns are its SELECT's types as
        # they were when it was created (verdicts_daily_mv still lists three
        # purposes; its rows take verdicts' types, 'candidate' included).
        rows = store.rows("SELECT table, name, type FROM system.columns "
                          "WHERE database = {db:String} AND type LIKE '%Enum8(%' "
                          "AND table NOT IN (SELECT name FROM system.tables WHERE "
                          "database = {db:String} AND engine = 'MaterializedView')",
                          {"db": store.database})
    finally:
        store.close()
    checked = set()
    for table, column, kind in rows:
        body = _ENUM8.search(str(kind))
        assert body is not None, kind
        words = {k: int(v) for k, v in _VALUE.findall(body[1])}
        key = (str(table), str(column))
        expected = expected_words(*key)
        if expected is None:
            assert key in _OWN_WORDS, f"{key}: an Enum8 column with no vocabulary"
            continue
        assert words == expected, key
        checked.add(key)
    # the columns the contract's words live in, at least
    assert {("measurements", "purpose"), ("measurements", "transport"),
            ("measurements", "failure"), ("web_observations", "tls_version"),
            ("verdicts", "verdict"), ("verdicts", "method")} <= checked
