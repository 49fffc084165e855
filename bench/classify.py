"""Classification speed: the rules in the engine (rules_sql.py, production)
against the pure rules one Python object at a time (dnsverdicts.py, the oracle),
on the same stored measurements in chDB. Prints name=value lines.

    python bench/classify.py [--measurements 1000000] [--chunk 50000 --chunk 200000]
                             [--python-sample 50000] [--path DIR]

The engine generates the measurements (`generate`, shared with
bench/sustained.py): probes in 40 countries and two unfiltered control
vantages ask 300 names through 4 resolvers; a third of the names are blocked
per (country, resolver) in one of the ways the rules know (EDE, NXDOMAIN,
stop page, bogon, timeout); every probe checks a control domain each round.

Then the layers (issue 13): web follow-ups are generated from the answered
target measurements, one per (probe, hour, name, address) and port 443 / 80
with every measurement that named the address (a ninth answer 451 from
Cloudflare's edge, a ninth time out, the rest are 2 KiB pages), judged by the
web pass (`web_per_s`, Python rules over engine-read context), then a site
verdict per measurement (`site_per_s`, one insert-select, sitesql.py).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.fingerprints import FingerprintSet, load_fingerprints
from blockwatch.analysis.httpfingerprints import load_http_fingerprints
from blockwatch.analysis.sitesql import store_pending_site_verdicts
from blockwatch.analysis.storage import layers_version, oracle_verdicts, store_pending_verdicts
from blockwatch.analysis.webstorage import store_pending_web_verdicts
from blockwatch.schema.migrate import apply_migrations

# One row per measurement; `{start}`/`{count}` number them, `{t0_us}`/`{span_us}`
# spread started_at, received_at follows by `{lag_us}`.
GENERATE = """INSERT INTO measurements (measurement_id, batch_id, round_id, probe_name,
    probe_country, probe_asn, probe_control, started_at, duration_us, received_at, domain,
    qtype, qclass, purpose, resolver_name, resolver_address, resolver_port, transport, failure,
    response_count, rcode, flags, `answers.name`, `answers.type`, `answers.ttl`,
    `answers.data`, authority_count, edns, ede_codes, ede_texts, reply_count, answer_set_count)
SELECT generateUUIDv7(number), 'bench', 'bench', p, c, toUInt32(64512 + ci), ctl, ts, 1000,
    ts + toIntervalMicrosecond({lag_us:UInt64}), d, 1, 1, if(control_q, 'control', 'target'), r,
    '192.0.2.53', 53, 'udp', if(how = 'drop', 'timeout', 'none'),
    if(how = 'drop', 0, 1), if(how = 'drop', NULL, multiIf(how = 'nxdomain', 3,
        how = 'refused', 5, 0)),
    if(how = 'nxdomain', 0x8103, 0x8180),
    if(has_answer, [d], []), if(has_answer, [1], []), if(has_answer, [300], []),
    if(has_answer, [multiIf(how = 'stop', '83.224.65.74', how = 'bogon', '127.0.0.1',
        concat('104.16.', toString(dn % 250), '.', toString(1 + cityHash64(number) % 3)))], []),
    0, true, if(how = 'ede', [16], []), if(how = 'ede', ['censored'], []),
    if(how = 'drop', 0, 1), if(how = 'drop', 0, 1)
FROM (
    SELECT number,
        toDateTime64({t0_us:Int64} / 1e6, 6, 'UTC')
            + toIntervalMicrosecond(intDiv((number - {start:UInt64}) * {span_us:UInt64},
                                           {count:UInt64})) AS ts,
        cityHash64(number, 1) % 42 AS ci,
        ci >= 40 AS ctl,
        if(ctl, ['NL', 'CH'][ci - 39], {countries:Array(String)}[ci + 1]) AS c,
        concat('p-', c) AS p,
        {resolvers:Array(String)}[1 + cityHash64(number, 2) % 4] AS r,
        cityHash64(number, 3) % 20 = 0 AS control_q,
        cityHash64(number, 4) % 300 AS dn,
        if(control_q, 'control.example', concat('d', toString(dn), '.example')) AS d,
        NOT ctl AND NOT control_q AND cityHash64(c, r, dn) % 3 = 0 AS blocks,
        if(blocks, ['ede', 'nxdomain', 'stop', 'bogon', 'drop', 'refused'][
            1 + cityHash64(c, r) % 6], 'ok') AS how,
        how IN ('ok', 'stop', 'bogon') AS has_answer
    FROM numbers({start:UInt64}, {count:UInt64}))"""

COUNTRIES = ["IT", "DE", "FR", "ES", "NL", "BE", "AT", "CH", "PT", "GR", "PL", "CZ", "SK", "HU",
             "RO", "BG", "HR", "SI", "SE", "NO", "DK", "FI", "IE", "GB", "US", "CA", "MX", "BR",
             "AR", "CL", "IN", "ID", "JP", "KR", "AU", "NZ", "ZA", "EG", "TR", "RU"]
RESOLVERS = ["isp", "cloudflare", "google", "quad9"]


def generate(db: ClickHouseDatabase, start: int, count: int, t0_us: int, *, span_us: int,
             lag_us: int = 1_000_000) -> None:
    db.command(GENERATE, {"start": start, "count": count, "t0_us": t0_us, "span_us": span_us,
                          "lag_us": lag_us, "countries": COUNTRIES, "resolvers": RESOLVERS})


# Follow-ups of the answered targets: (probe, hour, name, address) x (443, 80).
GENERATE_WEB = """INSERT INTO web_observations (observation_id, batch_id, round_id, probe_name,
    probe_country, probe_asn, probe_control, started_at, received_at, name, address, port,
    scheme, dns_measurement_ids, connect_failure, tls_attempted, has_certificate,
    cert_sha256, chain_verified, name_matches, http_sent, status, `headers.name`,
    `headers.value`, body_sha256, body_prefix, title)
SELECT generateUUIDv7(cityHash64(probe_name, hour, domain, address, port)), 'bench-web',
    toString(hour), probe_name, probe_country, probe_asn, probe_control,
    first + toIntervalSecond(2), first + toIntervalSecond(3), domain, address, port,
    if(port = 443, 'https', 'http'), ids, if(how = 'timeout', 'timeout', 'none'),
    port = 443 AND how != 'timeout', port = 443 AND how != 'timeout',
    if(port = 443, 'cert', ''), port = 443 AND how != 'timeout',
    port = 443 AND how != 'timeout', how != 'timeout', multiIf(how = 'timeout', 0,
    how = '451', 451, 200), if(how = '451', ['server', 'cf-ray'], []),
    if(how = '451', ['cloudflare', '8b1c-MXP'], []), if(how = 'timeout', '', 'body'),
    if(how = 'timeout', '', concat('<html><head><title>Site</title></head><body>',
        repeat('x', 2000), '</body></html>')), if(how = 'timeout', '', 'Site')
FROM (
    SELECT probe_name, any(probe_country) AS probe_country, any(probe_asn) AS probe_asn,
        any(probe_control) AS probe_control, toStartOfHour(started_at) AS hour, domain,
        `answers.data`[1] AS address, groupArray(measurement_id) AS ids,
        min(started_at) AS first,
        multiIf(probe_control, 'ok', cityHash64(probe_country, domain) % 9 = 0, '451',
                cityHash64(probe_country, domain) % 9 = 1, 'timeout', 'ok') AS how
    FROM measurements
    WHERE purpose = 'target' AND rcode = 0 AND notEmpty(`answers.data`)
      AND `answers.data`[1] NOT IN ('127.0.0.1')
    GROUP BY probe_name, hour, domain, address)
ARRAY JOIN [443, 80] AS port"""


def open_database(path: Path) -> ClickHouseDatabase:
    ClickHouseDatabase(f"chdb://{path}", "default").command(
        "CREATE DATABASE IF NOT EXISTS blockwatch")
    db = ClickHouseDatabase(f"chdb://{path}", "blockwatch")
    apply_migrations(db)
    return db


def layers(db: ClickHouseDatabase, fps: FingerprintSet) -> None:
    """Web follow-ups of the classified measurements, then web and site verdicts."""
    started = time.perf_counter()
    db.command(GENERATE_WEB)
    web_rows = int(db.rows("SELECT count() FROM web_observations")[0][0])
    print(f"web_observations={web_rows}")
    print(f"web_generate_seconds={time.perf_counter() - started:.2f}")
    hfps = load_http_fingerprints()
    now_us = time.time_ns() // 1000
    started, c0 = time.perf_counter(), time.process_time()
    web_done, frontier = 0, 0
    while True:
        step = store_pending_web_verdicts(db, hfps, settle_s=0, now_us=now_us)
        frontier = step.frontier_us
        if not step.observations:
            break
        web_done += step.observations
    elapsed = time.perf_counter() - started
    print(f"web_verdicts={web_done}")
    print(f"web_per_s={web_done / elapsed:.0f}")
    cpu_us = (time.process_time() - c0) / max(1, web_done) * 1e6
    print(f"web_cpu_us_per_observation={cpu_us:.0f}")
    started = time.perf_counter()
    sites = 0
    while True:
        n = store_pending_site_verdicts(db, layers_version(fps, hfps), cutoff_us=frontier)
        if not n:
            break
        sites += n
    elapsed = time.perf_counter() - started
    print(f"site_verdicts={sites}")
    print(f"site_per_s={sites / elapsed:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--measurements", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, action="append")
    parser.add_argument("--python-sample", type=int, default=50_000)
    parser.add_argument("--path", type=Path)
    args = parser.parse_args()
    scratch = None if args.path else Path(tempfile.mkdtemp(prefix="blockwatch-classify-"))
    path = args.path or Path(str(scratch)) / "db"
    db = open_database(path)
    fps = load_fingerprints()
    t0_us = int(time.time() - 86_400) * 1_000_000
    started = time.perf_counter()
    generate(db, 0, args.measurements, t0_us, span_us=6 * 3600 * 1_000_000)
    print(f"measurements={args.measurements}")
    print(f"generate_seconds={time.perf_counter() - started:.2f}")

    sample = min(args.python_sample, args.measurements)
    started = time.perf_counter()
    rows = oracle_verdicts(db, "measurement_id IN (SELECT measurement_id FROM measurements "
                           "ORDER BY received_at LIMIT {n:UInt64})", {"n": sample}, fps)
    python = len(rows) / (time.perf_counter() - started)
    print(f"python_rules_sample={len(rows)}")
    print(f"python_rules_measurements_per_s={python:.0f}")

    for chunk in args.chunk or [50_000, 200_000]:
        db.command("TRUNCATE TABLE verdicts")
        db.command("TRUNCATE TABLE verdicts_daily")
        started = time.perf_counter()
        slices: list[float] = []
        done = 0
        while True:
            s = time.perf_counter()
            result = store_pending_verdicts(db, fps, max_rows=chunk)
            slices.append(time.perf_counter() - s)
            if not result.measurements:
                break
            done += result.measurements
        elapsed = time.perf_counter() - started
        print(f"sql_chunk_{chunk}_measurements={done}")
        print(f"sql_chunk_{chunk}_measurements_per_s={done / elapsed:.0f}")
        print(f"sql_chunk_{chunk}_slice_max_s={max(slices):.3f}")

    layers(db, fps)
    db.close()
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
