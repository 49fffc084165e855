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
                           "span_us": DAYS * 86_400_000_000, "countries": COUNTRIES,
                           "resolvers": RESOLVERS, "transports": TRANSPORTS})
    first = dt.datetime(2024, 8, 1, tzinfo=dt.UTC)
    for day in range(DAYS):
        window = {"lo": first + dt.timedelta(days=day), "hi": first + dt.timedelta(days=day + 1)}
        db.command(MEASUREMENTS, window)
        db.command(VERDICTS, window)
    db.command("OPTIMIZE TABLE layers_daily FINAL")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--chunk", type=int, default=10_000_000)
    parser.add_argument("--path", type=Path, default=None,
                        help="chDB directory (default: temp); kept data is reused")
    parser.add_argument("--repeat", type=int, default=5)
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
        stored = db.rows("SELECT count() FROM measurements")[0][0]
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
        from blockwatch.analysis.filters import Filters
        from blockwatch.analysis.reports import build_report

        per_order = Filters(order="o3")
        _, compliance = _timed(lambda: build_report("compliance", per_order, db.rows),
                               args.repeat)
        _, by_domain = _timed(lambda: build_report(
            "compliance", Filters(order="o3", by="domain"), db.rows), args.repeat)
        for line in (f"measurements={stored}", f"rollup_rows={rollup}",
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
                     f"goal_met_cached={cached <= 0.3}"):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
