"""The watermark of a verdict table: the newest `received_at` it holds, where
the background pass resumes.

`max(received_at)` over the whole table reads that column of every part, on
every chunk of the pass: 16 ms per 1M rows on one thread, so the pass slowed
as the table grew. The last hour is looked at first, where the minmax index on
received_at (migration 0015) skips every older part; the whole table only when
the last hour holds nothing (a pass that is an hour behind, a reclassify that
deleted the newest verdicts, a collector's clock gone back). A max over a
non-empty tail is the max of the whole, so the answer is exact either way.
"""

from __future__ import annotations

from blockwatch.analysis.database import Database
from blockwatch.analysis.errors import QueryError

# the tables a pass keeps a watermark in (names go into SQL)
WATERMARK_TABLES = frozenset({"verdicts", "web_verdicts", "site_verdicts"})
_RECENT = "received_at >= now64(6, 'UTC') - INTERVAL 1 HOUR"


def newest_received_us(db: Database, table: str) -> int:
    """Newest `received_at` in `table`, in µs (0: the table is empty)."""
    if table not in WATERMARK_TABLES:
        raise QueryError(f"{table!r} keeps no watermark")
    for where in (f" WHERE {_RECENT}", ""):
        rows = db.rows(f"SELECT toUnixTimestamp64Micro(max(received_at)), count() FROM {table}"
                       + where)
        if rows and int(rows[0][1]):
            return int(rows[0][0])
    return 0
