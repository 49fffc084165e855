"""Storage cost of web observations in embedded chDB: bytes on disk per row,
compressed, through the collector's own conversion and insert path.

    python bench/web_storage.py [--observations 100000]

Observations resemble a probe's: names and addresses repeat across rounds, a
certificate per site, a few headers, the body prefix of a small HTML page (a
stop page, a 451 notice, a site's front page), one row per port.
Prints name=value lines.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
import uuid

import pyarrow as pa

from blockwatch.collector.columns import Batch, Origin
from blockwatch.collector.servicer import web_columns
from blockwatch.collector.store import Store
from blockwatch.collector.webcolumns import web_storage_table
from blockwatch.collector.webvalidation import WebLimits
from blockwatch.probe.observation import Failure
from blockwatch.probe.webobservation import (
    Certificate,
    ConnectStep,
    HttpStep,
    TlsStep,
    WebObservation,
)
from blockwatch.probe.wire import encode_columnar_submit_request, encode_web_observation
from blockwatch.v1 import probe_pb2 as pb

PAGES = [
    (451, "Unavailable For Legal Reasons",
     "This site is not available in your country by order of the Court of Milan."),
    (200, "AGCOM Stop Page", "Il sito richiesto non e' raggiungibile (delibera AGCOM)."),
    (200, "The Pirate Bay", "Download music, movies, games. " * 40),
]


def observation(i: int, now_us: int) -> WebObservation:
    site = i % 500
    status, title, text = PAGES[i % len(PAGES)]
    body = (f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}"
            f"</h1><p>{text}</p></body></html>\n").encode()
    name = f"site{site}.example"
    https = i % 2 == 0
    cert = Certificate(f"CN={name}", "CN=R11,O=Let's Encrypt,C=US",
                       (f"DNS:{name}", f"DNS:www.{name}"), 1_700_000_000, 1_707_776_000,
                       site.to_bytes(32, "big"))
    return WebObservation(
        observation_id=uuid.uuid4().bytes, round_id=f"round-{i // 5000}",
        started_at_us=now_us - (100_000 - i) * 1000, duration_us=40_000 + i % 997,
        name=name, address=f"104.21.{site // 250}.{site % 250}", port=443 if https else 80,
        scheme="https" if https else "http",
        dns_measurement_ids=(uuid.uuid4().bytes, uuid.uuid4().bytes),
        connect=ConnectStep(900 + i % 300),
        tls=TlsStep(3000 + i % 500, "TLSv1.3", "TLS_AES_256_GCM_SHA384", cert, True, True)
        if https else None,
        http=HttpStep(f"{'https' if https else 'http'}://{name}/", 8000 + i % 900,
                      5000 + i % 700, status, "OK" if status == 200 else "Unavailable",
                      "1.1", (("server", "cloudflare"), ("content-type", "text/html"),
                              ("content-length", str(len(body)))), len(body), False,
                      hashlib.sha256(body).digest(), body, title,
                      Failure.NONE))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--observations", type=int, default=100_000)
    args = parser.parse_args()
    now_us = time.time_ns() // 1000
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"chdb://{tmp}/db")
        store.migrate()
        origin = Origin("bench-1", "IT", 64500, False)
        started = time.perf_counter()
        for start in range(0, args.observations, 5000):
            payloads = [encode_web_observation(observation(i, now_us))
                        for i in range(start, min(start + 5000, args.observations))]
            request = pb.SubmitRequest.FromString(encode_columnar_submit_request(
                f"b{start}", [], payloads))
            columns = web_columns(request.batch, WebLimits())
            assert columns is not None
            # the collector's insert path for a batch carrying web observations only
            store.insert([(Batch(f"b{start}", pa.table({}), web_storage_table(columns)),
                           origin)], now_us)
        elapsed = time.perf_counter() - started
        store.command("OPTIMIZE TABLE web_observations FINAL")
        rows, compressed, uncompressed, disk = store.rows(
            "SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes), "
            "sum(bytes_on_disk) FROM system.parts WHERE database = 'blockwatch' "
            "AND table = 'web_observations' AND active")[0]
        store.close()
    n = int(str(rows))
    print(f"web_observations={n}")
    print(f"web_bytes_on_disk_per_observation={int(str(disk)) / n:.1f}")
    print(f"web_compressed_bytes_per_observation={int(str(compressed)) / n:.1f}")
    print(f"web_uncompressed_bytes_per_observation={int(str(uncompressed)) / n:.1f}")
    print(f"web_convert_and_insert_per_second={n / elapsed:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
