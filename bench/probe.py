"""Probe benchmark: measurements per second on one core against a local unbound,
and peak RSS during a 50,000-name round.

    python bench/probe.py [--names 50000] [--concurrency 256]

Runs the real agent (`blockwatch-probe run --rounds 1`, spool included) pinned
to one core, against unbound answering the names from local data on loopback
(pinned to the other core). Prints name=value lines.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UNBOUND_CONF = """server:
    interface: {address}@{port}
    port: {port}
    do-ip6: no
    chroot: ""
    username: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    logfile: ""
    use-syslog: no
    verbosity: 0
    num-threads: 1
    so-rcvbuf: 8m
    so-sndbuf: 8m
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    # answer every name below bench.test locally: the probe is measured, not recursion
    local-zone: "bench.test." redirect
    local-data: "bench.test. 300 IN A 10.1.2.3"
    local-zone: "." refuse
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _high_water_kb(pid: int) -> int:
    """The process's peak resident set (VmHWM), which the kernel keeps for us."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found[1]) if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--listen-window", type=float, default=0.3)
    args = parser.parse_args()
    if not shutil.which("unbound"):
        sys.exit("bench/probe.py needs unbound (apt-get install unbound)")
    cores = sorted(os.sched_getaffinity(0))
    probe_core, server_core = cores[0], cores[-1]

    with tempfile.TemporaryDirectory(prefix="bw-bench-") as tmp:
        work = Path(tmp)
        port = free_port()
        (work / "unbound.conf").write_text(UNBOUND_CONF.format(address="127.0.0.1", port=port,
                                                               dir=work))
        server = subprocess.Popen(["taskset", "-c", str(server_core), "unbound", "-d", "-c",
                                   str(work / "unbound.conf")])
        try:
            time.sleep(0.5)
            names = work / "names.txt"
            names.write_text("".join(f"n{i}.bench.test\n" for i in range(args.names)))
            config = work / "probe.toml"
            config.write_text(f"""name = "bench"
qtypes = ["A"]
identity_checks = false
[limits]
qps = 100000
concurrency = {args.concurrency}
timeout_s = 5
listen_window_s = {args.listen_window}
[targets]
file = "{names}"
[spool]
path = "{work}/spool.db"
[[resolvers]]
name = "local"
address = "127.0.0.1"
port = {port}
""")
            started = time.monotonic()
            process = subprocess.Popen(
                ["taskset", "-c", str(probe_core), sys.executable, "-m", "blockwatch.probe",
                 "run", "-c", str(config), "--rounds", "1"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            peak_kb = 0
            while process.poll() is None:
                peak_kb = max(peak_kb, _high_water_kb(process.pid))
                time.sleep(0.05)
            stdout, stderr = process.communicate()
            probe = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
            wall = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(10)
        if probe.returncode != 0:
            print(probe.stderr[-3000:], file=sys.stderr)
            return 1
        found = re.search(r"round \S+: (\d+) measurements in ([\d.]+)s, failures (.*)",
                          probe.stderr)
        if not found:
            print(probe.stderr[-3000:], file=sys.stderr)
            return 1
        measured, seconds, failures = int(found[1]), float(found[2]), found[3]
        spooled = int(subprocess.run(
            ["sqlite3", str(work / "spool.db"), "SELECT COUNT(*) FROM measurements"],
            capture_output=True, text=True, check=False).stdout.strip() or -1) \
            if shutil.which("sqlite3") else -1
    print(f"names={args.names}")
    print(f"concurrency={args.concurrency}")
    print(f"listen_window_s={args.listen_window}")
    print(f"measurements={measured}")
    print(f"spooled={spooled}")
    print(f"failures={failures}")
    print(f"round_seconds={seconds:.2f}")
    print(f"measurements_per_second={measured / seconds:.0f}")
    print(f"process_wall_seconds={wall:.2f}")
    print(f"peak_rss_mb={peak_kb / 1024:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
