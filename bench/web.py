"""Web follow-up benchmark: follow-ups per second on one core against a local nginx
over TLS, and the engine process's peak RSS.

    python bench/web.py [--followups 5000] [--concurrency 64] [--mismatch]

nginx (pinned to one core) serves `*.bench.test` on 127.0.0.1 over TLS and plain
HTTP with a lab-CA certificate; the engine runs in a child process pinned to the
other core and follows up n{i}.bench.test at 127.0.0.1 (port 443 with TLS and
HTTP, then port 80), as a probe does after a round. `--mismatch` serves a
certificate for another name: every TLS follow-up then verifies, fails, and
handshakes again unverified to record the certificate (the slow path).
Per-destination limits are lifted: every follow-up goes to the same address.
`web_followups_per_cpu_second` divides by the engine process's CPU time, so a
busy shared machine does not hide what one core delivers.
Prints name=value lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _high_water_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found[1]) if found else 0


def worker(args: argparse.Namespace) -> int:
    """The measured process: the engine alone, as a probe would run it."""
    from blockwatch.probe.web import WebEngine
    from blockwatch.probe.webconfig import WebConfig
    from blockwatch.probe.webobservation import FollowUp, WebObservation

    config = WebConfig(
        https_ports=(args.https_port,), http_ports=(args.http_port,), allow_non_global=True,
        ca_file=args.ca, concurrency=args.concurrency,
        destination_concurrency=min(args.concurrency, 64), destination_rate=100_000)
    engine = WebEngine(config)
    followups = (FollowUp(f"n{i}.bench.test", "127.0.0.1", (i.to_bytes(16, "big"),))
                 for i in range(args.followups))
    failures: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    def sink(o: WebObservation) -> None:
        failures[o.failure.label] += 1
        statuses[o.http.status if o.http else 0] += 1

    started, cpu = time.monotonic(), time.process_time()
    made = asyncio.run(engine.run(followups, "bench", sink))
    seconds, cpu_seconds = time.monotonic() - started, time.process_time() - cpu
    print(json.dumps({"observations": made, "seconds": seconds, "cpu_seconds": cpu_seconds,
                      "failures": failures,
                      "statuses": {str(k): v for k, v in statuses.items()}}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--followups", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--mismatch", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--https-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--http-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--ca", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if not shutil.which("nginx"):
        sys.exit("bench/web.py needs nginx (apt-get install nginx)")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the lab harness
    from tests.lab.nginx import Nginx, Site
    from tests.lab.tlsca import LabCA

    cores = sorted(os.sched_getaffinity(0))
    probe_core, server_core = cores[0], cores[-1]
    with tempfile.TemporaryDirectory(prefix="bw-bench-web-") as tmp:
        work = Path(tmp)
        ca = LabCA(work / "ca")
        cert = ca.issue("site", "other.example" if args.mismatch else "*.bench.test")
        site = Site("127.0.0.1", ("*.bench.test",), cert, title="Bench site",
                    text="x" * 2000)
        https_port, http_port = free_port(), free_port()
        with Nginx(work / "nginx", [site], http_port=http_port, https_port=https_port,
                   wrapper=("taskset", "-c", str(server_core))):
            process = subprocess.Popen(
                ["taskset", "-c", str(probe_core), sys.executable, __file__, "--worker",
                 "--followups", str(args.followups), "--concurrency", str(args.concurrency),
                 "--https-port", str(https_port), "--http-port", str(http_port),
                 "--ca", str(ca.ca_path)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            peak_kb = 0
            while process.poll() is None:
                peak_kb = max(peak_kb, _high_water_kb(process.pid))
                time.sleep(0.05)
            stdout, stderr = process.communicate()
        if process.returncode != 0:
            print(stderr[-3000:], file=sys.stderr)
            return 1
    result = json.loads(stdout.strip().splitlines()[-1])
    seconds = result["seconds"]
    print(f"followups={args.followups}")
    print(f"concurrency={args.concurrency}")
    print(f"certificate={'mismatch' if args.mismatch else 'valid'}")
    print(f"web_observations={result['observations']}")
    print(f"failures={','.join(f'{k}:{v}' for k, v in sorted(result['failures'].items()))}")
    print(f"statuses={','.join(f'{k}:{v}' for k, v in sorted(result['statuses'].items()))}")
    print(f"round_seconds={seconds:.2f}")
    print(f"web_followups_per_second={args.followups / seconds:.0f}")
    # the engine's own CPU time: what its one core delivers when nothing else runs there
    # (this machine is shared; wall time also counts waiting for the core)
    print(f"web_followups_per_cpu_second={args.followups / result['cpu_seconds']:.0f}")
    print(f"web_observations_per_second={result['observations'] / seconds:.0f}")
    print(f"web_peak_rss_mb={peak_kb / 1024:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
