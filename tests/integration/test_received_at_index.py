"""The background pass finds its work by `received_at` (what arrived since its
watermark), which neither the ordering key nor the partition key holds, so
before migration 0015 each chunk read that column of the whole table and the
pass slowed as the table grew. Real chDB: the minmax index skips the parts
outside the range, and the watermark is exact whichever way it is read."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator

import pytest

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.errors import QueryError
from blockwatch.analysis.watermark import newest_received_us
from tests.integration.analysis_world import create_schema
from tests.integration.collector_harness import chdb_dsn

_DBS = itertools.count()
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)

# one arrival: 100 measurements stored in one insert (one part), as the
# collector's group commit leaves them
_ARRIVE = """INSERT INTO measurements (measurement_id, batch_id, round_id, probe_name,
    probe_country, probe_asn, probe_control, started_at, received_at, domain, qtype, qclass,
    purpose, resolver_name, resolver_address, resolver_port, transport, failure,
    response_count, rcode, flags, reply_count, answer_set_count)
SELECT generateUUIDv4(number), {batch:String}, 'r1', 'p1', 'IT', 3269, false,
    {at:DateTime64(6, 'UTC')} - toIntervalSecond(1), {at:DateTime64(6, 'UTC')},
    concat('d', toString(number % 30), '.example'), 1, 1, 'target', 'isp', '192.0.2.53', 53,
    'udp', 'none', 1, 0, 0x8180, 1, 1
FROM numbers(100)"""


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


@pytest.fixture
def db(dsn: str) -> Iterator[ClickHouseDatabase]:
    handle = create_schema(dsn, f"received{next(_DBS)}")
    yield handle
    handle.close()


def _parts_read(db: ClickHouseDatabase, where: str) -> tuple[int, int]:
    """(parts left, parts in all) after the received_at index, from EXPLAIN."""
    plan = "\n".join(str(r[0]) for r in db.rows(
        f"EXPLAIN indexes = 1 SELECT uniqExact(measurement_id) FROM measurements WHERE {where}"))
    found = re.search(r"Name: received_at_minmax\n(?:\s+(?:Description|Condition): [^\n]*\n)*"
                      r"\s+Parts: (\d+)/(\d+)", plan)
    assert found, plan
    return int(found[1]), int(found[2])


def test_the_pass_reads_only_the_parts_that_arrived_since_its_watermark(
        db: ClickHouseDatabase) -> None:
    db.command("SYSTEM STOP MERGES measurements")  # one part per arrival, as before a merge
    for hours in (48, 36, 24, 12, 6, 0):
        db.command(_ARRIVE, {"batch": f"b{hours}", "at": NOW - dt.timedelta(hours=hours)})
    since = (NOW - dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert _parts_read(db, f"received_at > toDateTime64('{since}', 6, 'UTC')") == (1, 6)
    rows = db.rows("SELECT count() FROM measurements WHERE received_at > "
                   f"toDateTime64('{since}', 6, 'UTC')")
    assert rows == [(100,)]


def _verdict(db: ClickHouseDatabase, received: dt.datetime) -> None:
    db.command("INSERT INTO verdicts (measurement_id, started_at, received_at) VALUES "
               "(generateUUIDv4(), {at:DateTime64(6, 'UTC')}, {at:DateTime64(6, 'UTC')})",
               {"at": received})


def _us(at: dt.datetime) -> int:
    return int(at.timestamp()) * 1_000_000


def test_the_watermark_is_the_newest_received_at_recent_or_not(db: ClickHouseDatabase) -> None:
    assert newest_received_us(db, "verdicts") == 0
    two_days = NOW - dt.timedelta(days=2)
    _verdict(db, two_days - dt.timedelta(hours=1))
    _verdict(db, two_days)
    # nothing in the last hour (a pass that fell behind): read the whole table
    assert newest_received_us(db, "verdicts") == _us(two_days)
    _verdict(db, NOW - dt.timedelta(minutes=5))
    _verdict(db, NOW - dt.timedelta(minutes=2))
    assert newest_received_us(db, "verdicts") == _us(NOW - dt.timedelta(minutes=2))
    # a collector's clock set ahead: still the newest
    _verdict(db, NOW + dt.timedelta(days=1))
    assert newest_received_us(db, "verdicts") == _us(NOW + dt.timedelta(days=1))


def test_only_verdict_tables_keep_a_watermark(db: ClickHouseDatabase) -> None:
    with pytest.raises(QueryError, match="keeps no watermark"):
        newest_received_us(db, "measurements; DROP TABLE verdicts")
