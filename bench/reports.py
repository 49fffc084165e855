"""Benchmark: the effectiveness report over synthetic measurements in chDB.

    python bench/reports.py [--rows 100000000] [--path DIR] [--layer site]

The engine generates the rows (INSERT ... SELECT FROM numbers(), no Python per
row): site verdicts as the classify pass stores them, one per DNS measurement
with its DNS layer, web layer and site verdict, spread over 30 days, 40
countries x 2 ASNs, 6 resolvers (each over one transport: UDP, DoH or DoT), A
and AAAA queries, and 300 domains (250 of them in 10 orders of 50 sites).
Whether a resolver path blocks a name in a country is fixed per (country,
resolver, name), as in reality (30 %), and so is how, per (country, resolver):
in its DNS answers (one of five DNS methods), at the edge (DNS unchanged, HTTP
451 from the edge), or in the network (DNS unchanged, the address dropped);
3 % of measurements fail on top. The insert feeds the rollups (`layers_daily`,
three rows per site verdict, one per layer; `layers_sites_daily` and
`layers_sites_monthly`, what effectiveness reads) through their materialized
views, as in production. Prints name=value lines: generation time, rollup size, and
the report's time from the rollup at each layer (what `blockwatch report
effectiveness --layer L` runs) and, for comparison, the same aggregation over
the raw site_verdicts table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import re
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

from blockwatch.analysis import queries
from blockwatch.analysis.answer import answer
from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.filters import LAYER_CHOICES, Filters
from blockwatch.analysis.reports import build_report
from blockwatch.schema.migrate import apply_migrations, split_statements

COUNTRIES = ["IT", "DE", "FR", "ES", "NL", "BE", "AT", "CH", "PT", "GR", "PL", "CZ", "SK", "HU",
             "RO", "BG", "HR", "SI", "SE", "NO", "DK", "FI", "IE", "GB", "US", "CA", "MX", "BR",
             "AR", "CL", "IN", "ID", "JP", "KR", "AU", "NZ", "ZA", "EG", "TR", "RU"]
RESOLVERS = ["cloudflare", "google", "quad9", "isp", "opendns", "adguard"]
TRANSPORTS = ["udp", "doh", "dot", "udp", "udp", "doh"]     # per resolver
DAYS = 30

COLUMNS = """measurement_id, started_at, received_at, round_id, probe_name, probe_country,
    probe_asn, probe_control, domain, qtype, purpose, resolver_name, transport, dns_verdict,
    dns_method, dns_rule, web_verdict, web_method, web_rule, web_observation_ids, web_layer,
    web_party, web_operator, verdict, layer, method, party, operator, confirmed_by,
    classifier_version, classified_at"""

# one site verdict per generated measurement, named as site_verdicts' columns
GENERATED = """SELECT generateUUIDv4(number) AS measurement_id, ts AS started_at,
    ts AS received_at, 'bench' AS round_id, concat('p-', c, '-', toString(a)) AS probe_name,
    c AS probe_country, a AS probe_asn, false AS probe_control,
    concat('d', toString(d), '.site', toString(d % 50), '.example') AS domain, q AS qtype,
    'target' AS purpose, r AS resolver_name, t AS transport, dv AS dns_verdict,
    dm AS dns_method, 'bench' AS dns_rule, wv AS web_verdict, wm AS web_method,
    'bench' AS web_rule, CAST([], 'Array(UUID)') AS web_observation_ids, wl AS web_layer,
    wp AS web_party, wo AS web_operator,
    multiIf(dv = 'blocked', 'blocked', wv = 'blocked', 'blocked',
            dv IN ('error', 'unknown'), dv, 'ok') AS verdict,
    if(dv = 'blocked', 'dns', wl) AS layer, if(dv = 'blocked', dm, wm) AS method,
    if(dv = 'blocked', 'resolver', wp) AS party, if(dv = 'blocked', r, wo) AS operator,
    CAST([], 'Array(String)') AS confirmed_by, 'bench' AS classifier_version,
    ts AS classified_at
FROM (
    SELECT number, ts, c, a, r, t, d, q, dv, dm, wv,
        if(wv = 'blocked', if(how = 1, 'http-451', 'ip-drop'), '') AS wm,
        if(wv = 'blocked', if(how = 1, 'http', 'ip'), '') AS wl,
        if(wv = 'blocked', if(how = 1, 'edge', 'network'), '') AS wp,
        if(wv = 'blocked', if(how = 1, r, concat('AS', toString(a))), '') AS wo
    FROM (
        SELECT number, ts, c, a, r, t, d, q, how, dv,
            if(dv = 'blocked', ['ede', 'sinkhole', 'nxdomain', 'drop', 'refused'][
                1 + cityHash64(c, r) % 5], '') AS dm,
            -- a DNS block or a failure leaves no address to follow
            multiIf(dv != 'ok', 'unknown', blocks AND how > 0, 'blocked', 'ok') AS wv
        FROM (
            SELECT number, ts, c, a, r, d, q, blocks, how,
                {transports:Array(String)}[indexOf({resolvers:Array(String)}, r)] AS t,
                multiIf(cityHash64(number, 5) % 100 < 2, 'error',
                        cityHash64(number, 5) % 100 < 3, 'unknown',
                        blocks AND how = 0, 'blocked', 'ok') AS dv
            FROM (
                SELECT number,
                    -- spread over the days in seconds: number * span in µs overflowed
                    -- UInt64 beyond ~7M rows and folded the days (so did the old bench)
                    toDateTime64('2024-08-01 00:00:00', 6, 'UTC')
                        + toIntervalSecond(intDiv(number * {span_s:UInt64},
                                                  {total:UInt64})) AS ts,
                    {countries:Array(String)}[1 + cityHash64(number, 1) % 40] AS c,
                    toUInt32(64512 + (cityHash64(number, 1) % 40) * 10
                             + cityHash64(number, 2) % 2) AS a,
                    {resolvers:Array(String)}[1 + cityHash64(number, 3) % 6] AS r,
                    cityHash64(number, 4) % 300 AS d,
                    if(cityHash64(number, 6) % 2 = 0, 1, 28) AS q,
                    -- a path blocks a name in a country or not (30 %), consistently,
                    -- and always the same way: DNS (0), edge 451 (1), IP drop (2)
                    cityHash64(c, r, d) % 100 < 30 AS blocks,
                    cityHash64(c, r) % 3 AS how
                FROM numbers({start:UInt64}, {count:UInt64})))))"""

GENERATE = "INSERT INTO site_verdicts (" + COLUMNS + ")\n" + GENERATED


def rollup_inserts() -> list[str]:
    """--rollups-only: the production views' own SELECTs (migrations 0008 and
    0011) over the generated rows, inserted into the rollups directly, so the
    rollups hold what 100M stored site verdicts would give them without
    storing the site verdicts (the slow part on a shared machine)."""
    out = []
    for name in ("0008_layers.sql", "0011_layers_sites.sql", "0014_layers_sites_monthly.sql"):
        text = resources.files("blockwatch.schema.migrations").joinpath(name).read_text()
        for statement in split_statements(text):
            view = re.match(r"CREATE MATERIALIZED VIEW IF NOT EXISTS \w+ TO (\w+) AS\s*(.*)",
                            statement, re.S)
            if view:
                select = view[2].replace("FROM site_verdicts", f"FROM ({GENERATED})")
                out.append(f"INSERT INTO {view[1]} {select}")
    assert len(out) == 3, "the rollups' views were not found"
    return out


# A directory filled before 0014: the monthly rollup from the daily one, the
# sums reclassify puts back (analysis/storage.py)
MONTHLY_FROM_DAILY = """INSERT INTO layers_sites_monthly (layer, month, probe_country,
    resolver_name, domain, verdict, site_layer, method, party, operator, measurements,
    first_at, last_at)
SELECT layer, toStartOfMonth(day) AS month, probe_country, resolver_name, domain, verdict,
    site_layer, method, party, operator, sum(measurements), min(first_at), max(last_at)
FROM layers_sites_daily
GROUP BY ALL"""

# Where the time goes (timing variants of the default report's SQL): reading
# the layer's rows alone, and grouping them per domain and way of blocking
# without the order join
SCAN = {table: f"SELECT sum(measurements) FROM {table} WHERE layer = 'site'"
        for table in ("layers_sites_daily", "layers_sites_monthly")}
GROUP = {table: f"""SELECT count() FROM (
    SELECT probe_country, resolver_name, domain, site_layer, method, party, operator,
        sumIf(measurements, verdict = 'blocked'), sum(measurements)
    FROM {table} WHERE layer = 'site'
    GROUP BY probe_country, resolver_name, domain, site_layer, method, party, operator)"""
    for table in ("layers_sites_daily", "layers_sites_monthly")}

RAW_EFFECTIVENESS = """SELECT probe_country, resolver_name, od.site,
    countIf(verdict = 'blocked') AS blocked,
    countIf(verdict IN ('ok', 'blocked', 'filtered', 'suspect')) AS total,
    topKIf(1)((toString(layer), method, toString(party), operator), verdict = 'blocked') AS how
FROM site_verdicts AS v
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


def main() -> int:  # noqa: PLR0915 - one flat script of measurements
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--chunk", type=int, default=10_000_000)
    parser.add_argument("--path", type=Path, default=None,
                        help="chDB directory (default: temp); one already filled is reused")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rollups-only", action="store_true",
                        help="fill the rollups as their views would, without storing the "
                             "site verdicts (no raw-table figure then)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-bench-") as tmp:
        path = args.path or Path(tmp) / "db"
        setup = ClickHouseDatabase(f"chdb://{path}", "default")
        setup.command("CREATE DATABASE IF NOT EXISTS bench")
        db = ClickHouseDatabase(f"chdb://{path}", "bench")
        apply_migrations(db)
        generate_s = optimize_s = 0.0
        if not db.rows("SELECT count() FROM layers_daily")[0][0]:
            _orders(db)
            started = time.perf_counter()
            inserts = rollup_inserts() if args.rollups_only else [GENERATE]
            for start in range(0, args.rows, args.chunk):
                for sql in inserts:
                    db.rows(sql, {"start": start, "count": min(args.chunk, args.rows - start),
                                  "total": args.rows, "span_s": DAYS * 86_400,
                                  "countries": COUNTRIES, "resolvers": RESOLVERS,
                                  "transports": TRANSPORTS})
            generate_s = time.perf_counter() - started
            started = time.perf_counter()
            for table in ("layers_daily", "layers_sites_daily", "layers_sites_monthly"):
                db.command(f"OPTIMIZE TABLE {table} FINAL")
            optimize_s = time.perf_counter() - started
        if not db.rows("SELECT count() FROM layers_sites_monthly")[0][0]:
            db.command(MONTHLY_FROM_DAILY)
            db.command("OPTIMIZE TABLE layers_sites_monthly FINAL")
        stored = db.rows("SELECT sum(measurements) FROM layers_daily WHERE layer = 'site'")[0][0]
        rollup = db.rows("SELECT count() FROM layers_daily")[0][0]
        coarse = db.rows("SELECT count() FROM layers_sites_daily")[0][0]
        monthly = db.rows("SELECT count() FROM layers_sites_monthly")[0][0]
        days = db.rows("SELECT min(day), max(day) FROM layers_sites_daily")[0]
        site = Filters()
        it_isp = Filters(country="IT", resolver="isp")
        report = build_report("effectiveness", site, db.rows)
        cold, warm = _timed(lambda: build_report("effectiveness", site, db.rows), args.repeat)
        layers = {layer: _timed(functools.partial(
            build_report, "effectiveness", Filters(layer=layer), db.rows), args.repeat)[1]
            for layer in LAYER_CHOICES}
        _, filtered = _timed(lambda: build_report("effectiveness", it_isp, db.rows),
                             args.repeat)
        # a range starting inside the month: its days from the daily rollup
        mid = Filters(since=days[0] + dt.timedelta(days=14))
        _, since_mid = _timed(lambda: build_report("effectiveness", mid, db.rows), args.repeat)
        _, spill = _timed(lambda: build_report("spillover", site, db.rows), args.repeat)
        # the SQL alone, with the monthly rollup and from the daily one alone
        # (before 0014), and its parts
        params = site.parameters()
        sql_s = {name: _timed(functools.partial(db.rows, q, params), args.repeat)[1]
                 for name, q in (("monthly", queries.EFFECTIVENESS),
                                 ("daily_only", queries.EFFECTIVENESS_DAILY))}
        parts = {f"{kind}_{table.rsplit('_', 1)[1]}": _timed(
            functools.partial(db.rows, q), args.repeat)[1]
            for kind, group in (("scan", SCAN), ("group", GROUP)) for table, q in group.items()}
        # what `blockwatch report` runs: the report plus the data status (pending
        # classification) and the check of filter values
        _, answered = _timed(lambda: answer("effectiveness", site, db.rows), args.repeat)
        _, answered_it = _timed(lambda: answer("effectiveness", it_isp, db.rows), args.repeat)
        raw = None
        if db.rows("SELECT count() FROM site_verdicts")[0][0]:
            _, raw = _timed(lambda: db.rows(RAW_EFFECTIVENESS), max(1, args.repeat // 2))
        # Load-independent figures (this machine is shared): the CPU time of the
        # whole report (chDB runs in this process, so its threads count), and the
        # Python side alone on rows already fetched.
        cpu = _cpu(lambda: build_report("effectiveness", site, db.rows), args.repeat)
        fetched = db.rows(queries.EFFECTIVENESS, site.parameters())
        _, build = _timed(lambda: build_report("effectiveness", site,
                                               lambda _sql, _params: fetched), args.repeat)
        print(f"measurements={stored}")
        if generate_s:
            print(f"generate_seconds={generate_s:.1f}")
            print(f"generate_rows_per_second={stored / generate_s:.0f}")
            print(f"rollup_optimize_seconds={optimize_s:.1f}")
        print(f"rollup_rows={rollup}")
        print(f"sites_rollup_rows={coarse}")
        print(f"sites_monthly_rows={monthly}")
        print(f"report_rows={len(report.rows)}")
        print(f"effectiveness_first_seconds={cold:.3f}")
        print(f"effectiveness_seconds={warm:.3f}")
        for layer, seconds in layers.items():
            print(f"effectiveness_{layer}_seconds={seconds:.3f}")
        print(f"effectiveness_it_isp_seconds={filtered:.3f}")
        print(f"effectiveness_since_mid_month_seconds={since_mid:.3f}")
        print(f"spillover_seconds={spill:.3f}")
        for name, seconds in sql_s.items():
            print(f"effectiveness_sql_{name}_seconds={seconds:.3f}")
        for name, seconds in parts.items():
            print(f"site_layer_{name}_seconds={seconds:.3f}")
        print(f"effectiveness_answer_seconds={answered:.3f}")
        print(f"effectiveness_answer_it_isp_seconds={answered_it:.3f}")
        if raw is not None:
            print(f"effectiveness_raw_site_verdicts_seconds={raw:.3f}")
        print(f"effectiveness_cpu_seconds={cpu:.3f}")
        print(f"effectiveness_python_build_seconds={build:.4f}")
        print(f"load_average={os.getloadavg()[0]:.2f}")
        print(f"bar_met={warm <= 0.25}")
        print(f"goal_met={warm <= 0.1}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
