"""Benchmark: the effectiveness report over synthetic measurements in chDB.

    python bench/reports.py [--rows 100000000] [--path DIR]

The engine generates the rows (INSERT ... SELECT FROM numbers(), no Python per
row): verdict rows as the classifier stores them, one per measurement, spread
over 30 days, 40 countries x 2 ASNs, 6 resolvers and 300 domains (250 of them in
10 orders of 50 sites); whether a
resolver blocks a name in a country is fixed per (country, resolver, name), as
in reality, with 3 % failures on top. The insert feeds the `verdicts_daily` rollup through
its materialized view, as in production. Prints name=value lines: generation
time, rollup size, and the report's time from the rollup (what
`blockwatch report effectiveness` runs) and, for comparison, the same
aggregation over the raw verdicts table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from blockwatch.analysis import queries
from blockwatch.analysis.answer import answer
from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.reports import build_report
from blockwatch.collector.migrate import apply_migrations

COUNTRIES = ["IT", "DE", "FR", "ES", "NL", "BE", "AT", "CH", "PT", "GR", "PL", "CZ", "SK", "HU",
             "RO", "BG", "HR", "SI", "SE", "NO", "DK", "FI", "IE", "GB", "US", "CA", "MX", "BR",
             "AR", "CL", "IN", "ID", "JP", "KR", "AU", "NZ", "ZA", "EG", "TR", "RU"]
RESOLVERS = ["cloudflare", "google", "quad9", "isp", "opendns", "adguard"]
DAYS = 30

GENERATE = """INSERT INTO verdicts (measurement_id, started_at, received_at, probe_name,
    probe_country, probe_asn, probe_control, domain, qtype, purpose, resolver_name, transport,
    failure, verdict, method, rule, classifier_version, classified_at)
SELECT generateUUIDv4(number), ts, ts, concat('p-', c, '-', toString(a)), c, a, false,
    concat('d', toString(d), '.site', toString(d % 50), '.example'), 1, 'target', r, 'udp',
    'none', v, if(v = 'blocked', m, ''), 'bench', 'bench', ts
FROM (
    SELECT number,
        toDateTime64('2024-08-01 00:00:00', 6, 'UTC')
            + toIntervalMicrosecond(intDiv(number * {span_us:UInt64}, {total:UInt64})) AS ts,
        {countries:Array(String)}[1 + cityHash64(number, 1) % 40] AS c,
        toUInt32(64512 + (cityHash64(number, 1) % 40) * 10 + cityHash64(number, 2) % 2) AS a,
        {resolvers:Array(String)}[1 + cityHash64(number, 3) % 6] AS r,
        cityHash64(number, 4) % 300 AS d,
        -- a resolver blocks a name in a country or not (30 %), consistently; 3 % of
        -- measurements fail (error/unknown) whatever the policy
        cityHash64(c, r, d) % 100 < 30 AS blocks,
        multiIf(cityHash64(number, 5) % 100 < 2, 'error', cityHash64(number, 5) % 100 < 3,
                'unknown', blocks, 'blocked', 'ok') AS v,
        ['ede', 'sinkhole', 'nxdomain', 'drop', 'refused'][1 + cityHash64(c, r) % 5] AS m
    FROM numbers({start:UInt64}, {count:UInt64}))"""

RAW_EFFECTIVENESS = """SELECT probe_country, resolver_name, od.site,
    countIf(verdict = 'blocked') AS blocked,
    countIf(verdict IN ('ok', 'blocked', 'filtered', 'suspect')) AS total,
    topKIf(1)(toString(method), verdict = 'blocked') AS method
FROM verdicts AS v
INNER JOIN (SELECT DISTINCT site, domain FROM order_domains FINAL) AS od ON od.domain = v.domain
WHERE NOT probe_control AND purpose = 'target'
GROUP BY probe_country, resolver_name, od.site"""


def _orders(db: ClickHouseDatabase) -> None:
    import datetime as dt

    db.insert("orders", ["order_id", "authority", "title", "issued", "deadline", "countries",
                         "intermediaries", "source"],
              [[f"o{k}", "bench", "", dt.date(2024, 7, 1), dt.date(2024, 8, 10), ["IT", "DE"],
                RESOLVERS, "bench"] for k in range(10)])
    db.insert("order_domains", ["order_id", "site", "domain", "kind", "added"],
              [[f"o{d % 10}", f"site{d % 50}", f"d{d}.site{d % 50}.example",
                "domain" if d < 200 else "mirror", dt.date(2024, 7, 1)] for d in range(250)])


def _timed(fn: object, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return times[0], statistics.median(times)


def _cpu(fn: object, repeat: int) -> float:
    """Least CPU time (all threads of this process) over `repeat` runs."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        fn()  # type: ignore[operator]
        times.append(time.process_time() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--chunk", type=int, default=10_000_000)
    parser.add_argument("--path", type=Path, default=None, help="chDB directory (default: temp)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-bench-") as tmp:
        path = args.path or Path(tmp) / "db"
        setup = ClickHouseDatabase(f"chdb://{path}", "default")
        setup.command("CREATE DATABASE IF NOT EXISTS bench")
        db = ClickHouseDatabase(f"chdb://{path}", "bench")
        apply_migrations(db)
        _orders(db)
        started = time.perf_counter()
        for start in range(0, args.rows, args.chunk):
            db.rows(GENERATE, {"start": start, "count": min(args.chunk, args.rows - start),
                               "total": args.rows, "span_us": DAYS * 86_400_000_000,
                               "countries": COUNTRIES, "resolvers": RESOLVERS})
        generate_s = time.perf_counter() - started
        started = time.perf_counter()
        db.command("OPTIMIZE TABLE verdicts_daily FINAL")
        optimize_s = time.perf_counter() - started
        stored = db.rows("SELECT count() FROM verdicts")[0][0]
        rollup = db.rows("SELECT count() FROM verdicts_daily")[0][0]
        report = build_report("effectiveness", Filters(), db.rows)
        cold, warm = _timed(lambda: build_report("effectiveness", Filters(), db.rows),
                            args.repeat)
        _, filtered = _timed(lambda: build_report(
            "effectiveness", Filters(country="IT", resolver="isp"), db.rows), args.repeat)
        # what `blockwatch report` runs: the report plus the data status (pending
        # classification) and the check of filter values
        _, answered = _timed(lambda: answer("effectiveness", Filters(), db.rows), args.repeat)
        _, answered_it = _timed(lambda: answer(
            "effectiveness", Filters(country="IT", resolver="isp"), db.rows), args.repeat)
        _, raw = _timed(lambda: db.rows(RAW_EFFECTIVENESS), max(1, args.repeat // 2))
        # Load-independent figures (this machine is shared): the CPU time of the
        # whole report (chDB runs in this process, so its threads count), and the
        # Python side alone on rows already fetched.
        cpu = _cpu(lambda: build_report("effectiveness", Filters(), db.rows), args.repeat)
        fetched = db.rows(queries.EFFECTIVENESS, Filters().parameters())
        _, build = _timed(lambda: build_report("effectiveness", Filters(),
                                               lambda _sql, _params: fetched), args.repeat)
        print(f"measurements={stored}")
        print(f"generate_seconds={generate_s:.1f}")
        print(f"generate_rows_per_second={stored / generate_s:.0f}")
        print(f"rollup_optimize_seconds={optimize_s:.1f}")
        print(f"rollup_rows={rollup}")
        print(f"report_rows={len(report.rows)}")
        print(f"effectiveness_first_seconds={cold:.3f}")
        print(f"effectiveness_seconds={warm:.3f}")
        print(f"effectiveness_it_isp_seconds={filtered:.3f}")
        print(f"effectiveness_answer_seconds={answered:.3f}")
        print(f"effectiveness_answer_it_isp_seconds={answered_it:.3f}")
        print(f"effectiveness_raw_verdicts_seconds={raw:.3f}")
        print(f"effectiveness_cpu_seconds={cpu:.3f}")
        print(f"effectiveness_python_build_seconds={build:.4f}")
        print(f"load_average={os.getloadavg()[0]:.2f}")
        print(f"first_bar_met={cold <= 5.0}")
        print(f"goal_met={warm <= 0.5}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
