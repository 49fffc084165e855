"""Cost of one mirror-discovery pass (docs/mirrors.md) in embedded chDB: the
aggregated reads over web observations and verdicts, the derivation, the
candidates written.

    python bench/discovery.py [--sites 200] [--rounds 50] [--probes 20]

A world shaped like a deployment's: `sites` ordered sites, each observed by
every probe every round on two ports (one row per observation), a few with a
redirect, a certificate naming a sibling, a generated variant serving the same
page; verdicts with addresses for co-hosting. Prints name=value lines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
import uuid

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.collector.discovery import DiscoveryState, discover
from blockwatch.collector.orders import parse_orders
from blockwatch.schema.migrate import apply_migrations

T0 = dt.datetime(2024, 9, 1, tzinfo=dt.UTC)
WEB_COLUMNS = ["observation_id", "batch_id", "round_id", "probe_name", "probe_country",
               "probe_control", "started_at", "received_at", "name", "address", "port",
               "scheme", "status", "headers.name", "headers.value", "cert_sans",
               "cert_sha256", "has_certificate", "name_matches", "title", "body_sha256"]
VERDICT_COLUMNS = ["measurement_id", "started_at", "received_at", "probe_name",
                   "probe_country", "probe_control", "domain", "qtype", "purpose",
                   "resolver_name", "transport", "verdict", "answer"]


def _orders(sites: int) -> str:
    lines = ["orders:", "  - id: bench", "    authority: Bench", "    issued: 2024-07-15",
             "    deadline: 2024-08-14", "    countries: [IT]", "    intermediaries: [isp]",
             "    sites:"]
    lines += [f"      - {{name: s{i}, domains: [s{i}site.to]}}" for i in range(sites)]
    return "\n".join(lines) + "\n"


def _web_row(probe: int, rnd: int, site: int, name: str, port: int) -> list[object]:
    at = T0 + dt.timedelta(hours=rnd)
    redirect = site % 10 == 0 and name.endswith(".to")
    sans = [f"DNS:{name}"] + ([f"DNS:s{site}site.sx"] if site % 7 == 0 else [])
    return [str(uuid.uuid4()), f"b{probe}-{rnd}", f"r{rnd}", f"p{probe}", "CH" if probe == 0
            else "IT", probe == 0, at, at, name, f"45.{site % 250}.{probe}.1", port,
            "https" if port == 443 else "http", 301 if redirect else 200,
            ["location"] if redirect else [], [f"https://new{site}.net/"] if redirect else [],
            sans, f"{site:064x}", True, True, f"Site {site}", f"{site:064x}"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = ClickHouseDatabase(f"chdb://{tmp}/db", "default")
        db.command("CREATE DATABASE IF NOT EXISTS bench")
        db = ClickHouseDatabase(f"chdb://{tmp}/db", "bench")
        apply_migrations(db)
        orders = parse_orders(_orders(args.sites), source="bench.yaml")
        rows = 0
        for rnd in range(args.rounds):
            web = [_web_row(p, rnd, s, name, port) for p in range(args.probes)
                   for s in range(args.sites)
                   for name in (f"s{s}site.to", *([f"s{s}site.cc"] if p == 0 else []))
                   for port in (443, 80)]
            db.insert("web_observations", WEB_COLUMNS, web)
            at = T0 + dt.timedelta(hours=rnd)
            verdicts = [[str(uuid.uuid4()), at, at, f"p{p}", "IT", False, f"s{s}site.to", 1,
                         "target", "isp", "udp", "ok", [f"81.{s % 250}.0.1"]]
                        for p in range(args.probes) for s in range(args.sites)]
            db.insert("verdicts", VERDICT_COLUMNS, verdicts)
            rows += len(web)
        state = DiscoveryState()
        started = time.perf_counter()
        found = discover(db, orders, [], state)
        first = time.perf_counter() - started
        started = time.perf_counter()
        discover(db, orders, [], state)
        second = time.perf_counter() - started
        print(f"web_observations={rows}")
        print(f"verdicts={args.rounds * args.probes * args.sites}")
        print(f"listed_domains={args.sites}")
        print(f"candidates={len(found)}")
        print(f"names_to_measure={len(state.measure)}")
        print(f"discovery_pass_seconds={first:.3f}")
        print(f"discovery_second_pass_seconds={second:.3f}")
        print(f"discovery_peak_rss_mb="
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
