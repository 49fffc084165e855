"""Benchmark: the web view's order page over synthetic measurements in chDB.

    python bench/webview.py [--rows 100000000] [--path DIR]

Generates site verdicts as bench/reports.py does (same world: 30 days, 40
countries, 6 resolvers, 10 orders over 250 of 300 domains; blocks in DNS, at
an edge or in the network), the orders' intermediaries as groups (Cloudflare
with its edge, the ISP with its networks, the others plain resolver names),
and the matching stored measurements (the columns the page reads: probe,
round, domain), then
renders the order page through the real app (Starlette, templates, SVG) with
a real analyst token, in process (no socket: the figure is the server's
work). Prints name=value lines: order page first and median seconds, the
overview, a count's measurement list, and the API's compliance report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.reports import COUNTRIES, DAYS, GENERATE, RESOLVERS, TRANSPORTS, _orders, _timed
from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.reports import Value
from blockwatch.schema.migrate import apply_migrations

# the stored rows behind the verdicts (same ids, probe, domain, time); a round
# is an hour of a probe's work
MEASUREMENTS = """INSERT INTO measurements (measurement_id, batch_id, round_id, probe_name,
    probe_country, probe_asn, probe_control, started_at, received_at, domain, qtype, qclass,
    purpose, resolver_name, transport, failure, response_count, rcode)
SELECT measurement_id, 'bench', concat(probe_name, '-', toString(toStartOfHour(started_at))),
    probe_name, probe_country, probe_asn, false, started_at, received_at, domain, 1, 1,
    'target', resolver_name, 'udp', 'none', 1, 0
FROM site_verdicts
WHERE started_at >= {lo:DateTime64(6)} AND started_at < {hi:DateTime64(6)}"""


# and their DNS verdicts, as the classify pass writes them beside the site
# verdicts (the data status compares the two tables)
VERDICTS = """INSERT INTO verdicts (measurement_id, started_at, received_at, probe_name,
    probe_country, probe_asn, probe_control, domain, qtype, purpose, resolver_name, transport,
    failure, verdict, method, rule, classifier_version, classified_at)
SELECT measurement_id, started_at, received_at, probe_name, probe_country, probe_asn,
    probe_control, domain, qtype, purpose, resolver_name, transport, 'none', dns_verdict,
    dns_method, dns_rule, 'bench', classified_at
FROM site_verdicts
WHERE started_at >= {lo:DateTime64(6)} AND started_at < {hi:DateTime64(6)}"""


# The rollup as `total` measurements of bench/reports.py's world would fill it,
# written directly (one row per key and outcome, with its count) instead of
# through `total` site verdicts: the order page reads only the rollup and the
# small order tables, and generating 100M site verdicts takes hours on this
# machine. Per key (day, country, ASN, resolver, domain, family) the same
# rules as GENERATE: a path blocks a name or not (30 %), always the same way
# (DNS, edge 451, IP drop); 2 % errors, 1 % unknown; each measurement gives a
# dns, a web and a site row, as the materialized view writes them.
ROLLUP = """INSERT INTO layers_daily (layer, day, probe_country, probe_asn, probe_control,
    resolver_name, transport, family, domain, purpose, verdict, site_layer, method, party,
    operator, measurements, first_at, last_at)
SELECT l.1, toDate('2024-08-01') + day_n, c, a, false, r, t, q, dom, 'target', l.2, l.3, l.4,
    l.5, l.6, l.7, at, at + toIntervalHour(20)
FROM (
    SELECT intDiv(number, 288000) % 30 AS day_n,
        {countries:Array(String)}[1 + intDiv(number, 1800) % 40] AS c,
        toUInt32(64512 + (intDiv(number, 1800) % 40) * 10 + intDiv(number, 72000) % 2) AS a,
        {resolvers:Array(String)}[1 + intDiv(number, 300) % 6] AS r,
        {transports:Array(String)}[1 + intDiv(number, 300) % 6] AS t,
        number % 300 AS x, concat('d', toString(x), '.site', toString(x % 50), '.example') AS dom,
        if(intDiv(number, 144000) % 2 = 0, 4, 6) AS q,
        toDateTime64('2024-08-01 00:00:00', 6, 'UTC') + toIntervalDay(day_n) AS at,
        toUInt64(intDiv({total:UInt64}, 8640000)
                 + (cityHash64(number, 9) % 8640000 < {total:UInt64} % 8640000)) AS m,
        toUInt64(cityHash64(number, 5) % 1000 < 231) AS e,
        toUInt64(cityHash64(number, 6) % 1000 < 116) AS u,
        toUInt64(m - e - u) AS ok_n,
        cityHash64(c, r, x) % 100 < 30 AS blocks, cityHash64(c, r) % 3 AS how,
        ['ede', 'sinkhole', 'nxdomain', 'drop', 'refused'][1 + cityHash64(c, r) % 5] AS dm,
        arrayJoin(arrayFilter(v -> v.7 > 0, [
            ('dns', if(blocks AND how = 0, 'blocked', 'ok'), if(blocks AND how = 0, 'dns', ''),
             if(blocks AND how = 0, dm, ''), if(blocks AND how = 0, 'resolver', ''),
             if(blocks AND how = 0, r, ''), ok_n),
            ('web', multiIf(blocks AND how = 0, 'unknown', blocks, 'blocked', 'ok'),
             multiIf(NOT blocks OR how = 0, '', how = 1, 'http', 'ip'),
             multiIf(NOT blocks OR how = 0, '', how = 1, 'http-451', 'ip-drop'),
             multiIf(NOT blocks OR how = 0, '', how = 1, 'edge', 'network'),
             multiIf(NOT blocks OR how = 0, '', how = 1, r, concat('AS', toString(a))), ok_n),
            ('site', if(blocks, 'blocked', 'ok'),
             multiIf(NOT blocks, '', how = 0, 'dns', how = 1, 'http', 'ip'),
             multiIf(NOT blocks, '', how = 0, dm, how = 1, 'http-451', 'ip-drop'),
             multiIf(NOT blocks, '', how = 0, 'resolver', how = 1, 'edge', 'network'),
             multiIf(NOT blocks, '', how = 0, r, how = 1, r, concat('AS', toString(a))), ok_n),
            ('dns', 'error', '', '', '', '', e), ('web', 'unknown', '', '', '', '', e),
            ('site', 'error', '', '', '', '', e),
            ('dns', 'unknown', '', '', '', '', u), ('web', 'unknown', '', '', '', '', u),
            ('site', 'unknown', '', '', '', '', u)])) AS l
    FROM numbers({start:UInt64}, {count:UInt64}))"""


def _rollup_as(db: ClickHouseDatabase, total: int) -> None:
    db.command("TRUNCATE TABLE layers_daily")
    keys = 8_640_000   # 30 days x 40 countries x 2 ASNs x 6 resolvers x 300 domains x 2
    for start in range(0, keys, 1_440_000):
        db.command(ROLLUP, {"start": start, "count": 1_440_000, "total": total,
                            "countries": COUNTRIES, "resolvers": RESOLVERS,
                            "transports": TRANSPORTS})
    # the tables the site verdicts' other views fill, from the same rows: the
    # coarse rollup (spillover) and the order page's sources (0013)
    db.command("TRUNCATE TABLE layers_sites_daily")
    db.command(COARSE)
    db.command("TRUNCATE TABLE sources_daily")
    db.command(SOURCES)
    tables = ["layers_daily", "layers_sites_daily", "sources_daily"]
    # the monthly coarse rollup, where the schema has it (0014): the reports
    # read whole months from it
    if db.rows("EXISTS TABLE layers_sites_monthly")[0][0]:
        db.command("TRUNCATE TABLE layers_sites_monthly")
        db.command(MONTHLY)
        tables.append("layers_sites_monthly")
    for table in tables:
        db.command(f"OPTIMIZE TABLE {table} FINAL")


COARSE = """INSERT INTO layers_sites_daily
SELECT layer, day, probe_country, resolver_name, domain, verdict, site_layer, method, party,
    operator, sum(measurements), min(first_at), max(last_at)
FROM layers_daily
WHERE NOT probe_control AND purpose = 'target'
GROUP BY layer, day, probe_country, resolver_name, domain, verdict, site_layer, method, party,
    operator"""
MONTHLY = """INSERT INTO layers_sites_monthly
SELECT layer, toStartOfMonth(day) AS month, probe_country, resolver_name, domain, verdict,
    site_layer, method, party, operator, sum(measurements), min(first_at), max(last_at)
FROM layers_sites_daily
GROUP BY layer, month, probe_country, resolver_name, domain, verdict, site_layer, method, party,
    operator"""
SOURCES = """INSERT INTO sources_daily
SELECT day, domain, probe_country, probe_asn, probe_control, sum(measurements), min(first_at),
    max(last_at)
FROM layers_daily
WHERE layer = 'site' AND purpose = 'target'
GROUP BY day, domain, probe_country, probe_asn, probe_control"""


def _groups(db: ClickHouseDatabase) -> None:
    """Every order's intermediaries as the compliance report reads them: the
    generator's edge blocks name the resolver's operator, its network blocks
    the probe's ASN (64512 + 10 per country, two per country)."""
    asns = [f"AS{64512 + 10 * c + k}" for c in range(len(COUNTRIES)) for k in range(2)]
    groups = [["cloudflare", ["cloudflare"], ["cloudflare"]], ["isp", ["isp"], asns[:4]],
              *([r, [r], []] for r in RESOLVERS if r not in ("cloudflare", "isp"))]
    db.insert("order_intermediaries", ["order_id", "intermediary", "resolvers", "networks"],
              [[f"o{k}", *g] for k in range(10) for g in groups])


def _generate(db: ClickHouseDatabase, rows: int, chunk: int) -> float:
    import datetime as dt

    started = time.perf_counter()
    _orders(db)
    _groups(db)
    for start in range(0, rows, chunk):
        db.rows(GENERATE, {"start": start, "count": min(chunk, rows - start), "total": rows,
                           "span_s": DAYS * 86_400, "countries": COUNTRIES,
                           "resolvers": RESOLVERS, "transports": TRANSPORTS})
    first = dt.datetime(2024, 8, 1, tzinfo=dt.UTC)
    for day in range(DAYS):
        window = {"lo": first + dt.timedelta(days=day), "hi": first + dt.timedelta(days=day + 1)}
        db.command(MEASUREMENTS, window)
        db.command(VERDICTS, window)
    for table in ("layers_daily", "layers_sites_daily", "sources_daily"):
        db.command(f"OPTIMIZE TABLE {table} FINAL")
    return time.perf_counter() - started


def _compliance(db: ClickHouseDatabase, repeat: int) -> tuple[float, float]:
    """The compliance report alone, and --by domain (median seconds)."""
    from blockwatch.analysis.filters import Filters
    from blockwatch.analysis.reports import build_report

    return (_timed(lambda: build_report("compliance", Filters(order="o3"), db.rows), repeat)[1],
            _timed(lambda: build_report("compliance", Filters(order="o3", by="domain"),
                                        db.rows), repeat)[1])


def _parts(db: ClickHouseDatabase, repeat: int) -> dict[str, float]:
    """Where a cold order page goes: each report and evidence kind it asks
    for, alone and uncached (median seconds). `compliance` and
    `compliance_days` are one query on the page (the view caches its rows)."""
    from blockwatch.analysis.filters import Filters
    from blockwatch.analysis.reports import build_report
    from blockwatch.analysis.status import read_status
    from blockwatch.analysis.webview.evidence import evidence
    from blockwatch.analysis.webview.story import story_requests

    order: dict[str, Value] = {"order": "o3"}
    params = {"order": "o3"}
    out: dict[str, float] = {}
    for name, f in story_requests(order, Filters(order="o3")):
        key = name + ("_by_domain" if f.by else "")
        out[key] = _timed(lambda n=name, f=f: build_report(n, f, db.rows), repeat)[1]
    for kind in ("orders", "sources", "domains", "compliance_days"):
        out[kind] = _timed(lambda k=kind: evidence(k, params, db.rows), repeat)[1]
    out["status"] = _timed(lambda: read_status(db.rows), repeat)[1]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--chunk", type=int, default=10_000_000)
    parser.add_argument("--path", type=Path, default=None,
                        help="chDB directory (default: temp); kept data is reused")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rollup-as", type=int, default=0, metavar="N",
                        help="replace the rollup by the one N measurements would fill "
                             "(the raw tables keep --rows)")
    args = parser.parse_args()
    from starlette.testclient import TestClient

    from blockwatch.analysis.webview.app import create_app
    from blockwatch.analysis.webview.source import LocalSource
    from blockwatch.collector.registry import Registry

    with tempfile.TemporaryDirectory(prefix="bw-bench-web-") as tmp:
        path = args.path or Path(tmp) / "db"
        setup = ClickHouseDatabase(f"chdb://{path}", "default")
        setup.command("CREATE DATABASE IF NOT EXISTS bench")
        db = ClickHouseDatabase(f"chdb://{path}", "bench")
        apply_migrations(db)
        fresh = not db.rows("SELECT count() FROM site_verdicts")[0][0]
        generate_s = _generate(db, args.rows, args.chunk) if fresh else 0.0
        if args.rollup_as:
            started = time.perf_counter()
            _rollup_as(db, args.rollup_as)
            generate_s += time.perf_counter() - started
        stored = db.rows("SELECT count() FROM measurements")[0][0]
        rolled = db.rows("SELECT sum(measurements) FROM layers_daily WHERE layer = 'site'")[0][0]
        rollup = db.rows("SELECT count() FROM layers_daily")[0][0]

        registry = Registry(Path(tmp) / "registry.db")
        token = registry.add("analyst", "bench")
        registry.close()
        auth = {"Authorization": f"Bearer {token}"}

        def client() -> TestClient:
            """A new server: nothing cached (as after the data changed)."""
            return TestClient(create_app(LocalSource(db, Path(tmp) / "registry.db")),
                              headers=auth)

        def get(web: TestClient, url: str) -> int:
            got = web.get(url)
            if got.status_code != 200:
                raise SystemExit(f"{url}: HTTP {got.status_code}: {got.text[:300]}")
            return len(got.content)

        order = "/orders/o3"
        cold_first, cold = _timed(lambda: get(client(), order), args.repeat)
        web = client()
        size = get(web, order)
        _, cached = _timed(lambda: get(web, order), args.repeat)
        _, overview = _timed(lambda: get(client(), "/"), args.repeat)
        _, listed = _timed(lambda: get(client(), "/measurements?order=o3&country=IT"
                                       "&resolver=isp&verdict=blocked&scope=due"), args.repeat)
        _, api = _timed(lambda: get(client(), "/api/v1/reports/compliance?order=o3"),
                        args.repeat)
        compliance, by_domain = _compliance(db, args.repeat)
        parts = _parts(db, args.repeat)
        for line in (f"measurements={stored}", f"rollup_measurements={rolled}",
                     f"rollup_rows={rollup}",
                     f"generate_seconds={generate_s:.1f}",
                     f"order_page_first_seconds={cold_first:.3f}",
                     f"order_page_cold_seconds={cold:.3f}",
                     f"order_page_cached_seconds={cached:.3f}", f"order_page_bytes={size}",
                     f"overview_cold_seconds={overview:.3f}",
                     f"measurement_list_cold_seconds={listed:.3f}",
                     f"api_compliance_cold_seconds={api:.3f}",
                     f"compliance_report_seconds={compliance:.3f}",
                     f"compliance_by_domain_report_seconds={by_domain:.3f}",
                     f"bar_met_cold={cold <= 1.0}", f"goal_met_cold={cold <= 0.3}",
                     f"goal_met_cached={cached <= 0.3}",
                     *(f"order_page_part_{k}_seconds={v:.3f}" for k, v in parts.items())):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
