"""Common table expressions computed once per query where the engine can.

ClickHouse inlines a CTE at every reference and runs it again each time. The
classification queries name their chunk and its context once and read them
several times: the DNS rules read the control vantages' resolutions through
eleven joins, and the site query reads its chunk four times. Measured at 200k
measurements on one engine thread (bench/classify.py's data, 1M stored):
site verdicts 4.1-4.2 -> 2.8-3.3 CPU seconds, DNS verdicts 3.3-3.6 -> 2.9-3.2,
same verdicts. `WITH name AS MATERIALIZED` (ClickHouse 25.x and later, under
`enable_materialized_cte`) runs each once into a temporary table. An engine
without the setting runs the same query inlined, as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from blockwatch.analysis.database import Database
from blockwatch.analysis.errors import QueryError

SETTING = "enable_materialized_cte"


def engine_materializes(db: Database) -> bool:
    """Whether this engine knows materialized CTEs. Only on one node: on a
    cluster the temporary table and the Distributed reads are not tested."""
    if db.cluster:
        return False
    rows = db.rows("SELECT count() FROM system.settings WHERE name = {name:String}",
                   {"name": SETTING})
    return bool(rows) and int(rows[0][0]) > 0


def materialized(sql: str, names: Iterable[str]) -> str:
    """`sql` with the CTEs `names` (each defined as `\\nname AS (\\n`) marked
    MATERIALIZED and the setting turned on in its one SETTINGS clause."""
    for name in names:
        marker = f"\n{name} AS (\n"
        if sql.count(marker) != 1:
            raise QueryError(f"the query does not define the CTE {name!r} once")
        sql = sql.replace(marker, f"\n{name} AS MATERIALIZED (\n")
    if sql.count("\nSETTINGS ") != 1:
        raise QueryError("the query has no single SETTINGS clause to turn materialized CTEs on")
    return sql.replace("\nSETTINGS ", f"\nSETTINGS {SETTING} = 1, ")


def for_engine(db: Database, sql: str, names: Iterable[str]) -> str:
    """`sql` with `names` materialized where `db`'s engine can, else as is."""
    return materialized(sql, names) if engine_materializes(db) else sql
