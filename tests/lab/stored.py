"""Print what the collector stored, as JSON, for the lab's exactly-once check:

    python tests/lab/stored.py chdb:///path/to/db

Runs in its own process on purpose: chDB admits one database path per process,
so the test process never opens one (other tests may need another path), and
only after the collector, which owned this path, has stopped.
"""

from __future__ import annotations

import json
import sys

import clickhouse_connect


def main(dsn: str) -> int:
    client = clickhouse_connect.get_client(dsn=dsn)
    # No FINAL: a duplicate that ReplacingMergeTree would collapse later counts here.
    rows = client.query(
        "SELECT probe_name, toString(measurement_id) FROM blockwatch.measurements"
    ).result_rows
    ids: dict[str, list[str]] = {}
    for probe, mid in rows:
        ids.setdefault(str(probe), []).append(str(mid))
    verdicts = client.query("SELECT count(), uniqExact(measurement_id) "
                            "FROM blockwatch.verdicts FINAL").result_rows[0]
    json.dump({"ids": ids, "verdicts": int(verdicts[0]),
               "verdict_ids": int(verdicts[1])}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
