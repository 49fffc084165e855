"""Ingest benchmark: probe-style batches over gRPC into a collector with
embedded chDB, measured until acked; then the engine's own INSERT ... SELECT
rate on the same data, for the ratio. Prints name=value lines, among them
`collector_cpu_us_per_measurement`: the collector process's CPU (user +
system, /proc/<pid>/stat) over the timed run, per measurement acked: decode,
validation, the event loop's gRPC work and the chDB insert together
(bench/decode.py times the decode path alone).

    python bench/ingest.py [--measurements 400000] [--batch-size 5000]
                           [--streams 2] [--window 8]

Batches are built before timing, in the columnar form, by the probe's own
adapter (what probes send).

The collector runs as a subprocess (`blockwatch-collector serve`) so client
and server do not share one interpreter lock, as in production
(bench/submit.py, shared with bench/sustained.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.submit import (
    Answer,
    cpu_seconds,
    listed,
    spooled_measurement,
    start_collector,
    submit_stream,
    wait_ready,
)
from blockwatch.collector.registry import Registry
from blockwatch.probe.observation import ResolverRef, Transport
from blockwatch.probe.wire import BatchAck, encode_columnar_submit_request

DOMAINS = [f"site{i}.example" for i in range(200)]
RESOLVERS = [ResolverRef("cloudflare", "1.1.1.1", 53, Transport.UDP),
             ResolverRef("google", "8.8.8.8", 53, Transport.UDP),
             ResolverRef("quad9", "9.9.9.9", 853, Transport.DOT, tls_name="dns.quad9.net")]


def probe_measurement(i: int, now_us: int) -> bytes:
    """A typical observation: one response, two A records, EDNS."""
    return spooled_measurement(
        DOMAINS[i % len(DOMAINS)], RESOLVERS[i % 3], round_id=f"round-{i // 10_000}",
        started_at_us=now_us - (i % 3_600_000_000), duration_us=1000 + i % 5000,
        addresses=(f"203.0.113.{i % 250}", f"198.51.100.{i % 250}"))


async def send(address: str, token: str, requests: list[tuple[str, bytes]], window: int,
               latencies: list[float] | None = None) -> int:
    """Measurements acked on one stream (each ack's latency in seconds, from
    the batch's write, appended to `latencies` if given); any other answer
    ends the benchmark."""
    acked = 0

    def answered(answer: Answer, sent_at: float | None) -> None:
        nonlocal acked
        if not isinstance(answer, BatchAck):
            raise SystemExit(f"batch not acked: {answer}")
        acked += answer.stored + answer.duplicates
        if sent_at is not None and latencies is not None:
            latencies.append(time.monotonic() - sent_at)

    await submit_stream(address, token, listed(requests), window, answered)
    return acked


def prepare(measurements: int, batch_size: int, streams: int
            ) -> list[list[tuple[str, bytes]]]:
    """(batch id, SubmitRequest bytes) per stream, built as the probe builds
    them: spooled per-measurement payloads framed by the probe's adapter."""
    now_us = time.time_ns() // 1000
    payloads = [probe_measurement(i, now_us) for i in range(measurements)]
    per_stream: list[list[tuple[str, bytes]]] = [[] for _ in range(streams)]
    for n, start in enumerate(range(0, len(payloads), batch_size)):
        batch_id = f"bench-{n:08d}"
        per_stream[n % streams].append((batch_id, encode_columnar_submit_request(
            batch_id, payloads[start:start + batch_size])))
    return per_stream


def print_collector(cpu: float, acked: int, latencies: list[float]) -> None:
    print(f"collector_cpu_seconds={cpu:.2f}")
    print(f"collector_cpu_us_per_measurement={cpu * 1e6 / acked:.2f}")
    # With `--window` batches in flight per stream, an ack waits for the group
    # inserts ahead of it: the probes' view of a full pipe, not of an idle one.
    latencies.sort()
    print(f"ack_latency_p50_ms={latencies[len(latencies) // 2] * 1000:.1f}")
    print(f"ack_latency_p99_ms={latencies[int(len(latencies) * 0.99)] * 1000:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--measurements", type=int, default=400_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--streams", type=int, default=2)
    parser.add_argument("--window", type=int, default=8)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="blockwatch-bench-"))
    registry = Registry(tmp / "registry.db")
    token = registry.add("probe", "bench-probe", country="IT", asn=3269)
    registry.close()

    t0 = time.perf_counter()
    per_stream = prepare(args.measurements, args.batch_size, args.streams)
    print(f"prepare_seconds={time.perf_counter() - t0:.2f}")
    wire_bytes = sum(len(r) for reqs in per_stream for _, r in reqs)
    print(f"wire_bytes_per_measurement={wire_bytes / args.measurements:.1f}")

    server, address = start_collector(tmp)
    try:
        asyncio.run(wait_ready(address, token, time.monotonic() + 60, "bench-probe"))

        latencies: list[float] = []

        async def run_all() -> int:
            results = await asyncio.gather(*(send(address, token, reqs, args.window, latencies)
                                             for reqs in per_stream))
            return sum(results)

        cpu0 = cpu_seconds(server.pid)
        t0 = time.perf_counter()
        acked = asyncio.run(run_all())
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(server.pid) - cpu0
        print(f"measurements={acked}")
        print(f"batch_size={args.batch_size}")
        print(f"streams={args.streams}")
        print(f"end_to_end_seconds={elapsed:.3f}")
        e2e = acked / elapsed
        print(f"end_to_end_measurements_per_s={e2e:.0f}")
        print_collector(cpu, acked, latencies)
    finally:
        server.terminate()
        server.wait(timeout=60)

    # The engine alone, on the same rows, in this process (the collector is gone).
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp / 'db'}")
    client.database = "blockwatch"
    stored = client.query("SELECT count() FROM measurements").result_rows[0][0]
    print(f"stored_rows={stored}")
    client.command("CREATE TABLE bench_copy AS measurements")
    t0 = time.perf_counter()
    client.command("INSERT INTO bench_copy SELECT * FROM measurements "
                   "SETTINGS insert_deduplicate = 0")
    engine = stored / (time.perf_counter() - t0)
    print(f"engine_insert_select_rows_per_s={engine:.0f}")
    print(f"ratio_end_to_end_to_engine={e2e / engine:.3f}")
    client.close()


if __name__ == "__main__":
    main()
