"""Probe benchmark: measurements per second on one core against a local unbound,
and peak RSS during a 50,000-name round (DNS only); then a second pass with the
web follow-up on, against a local nginx over TLS.

    python bench/probe.py [--names 50000] [--concurrency 256] [--web-names 5000]
                          [--listen-window 0.3] [--udp-names 50000]

Runs the real agent (`blockwatch-probe run --rounds 1`, spool included) pinned
to one core, against unbound answering the names from local data on loopback
(pinned to the other core). The web pass resolves `--web-names` names the same
way and follows each answer (127.0.0.1, allowed with `allow_non_global`) as a
probe does: TLS + HTTP on one port, plain HTTP on another, to nginx (on the
other core) serving `*.bench.test` with a lab-CA certificate. Per-destination
limits are lifted there, since every follow-up goes to the same address.
`--web-names 0` skips the web pass. Prints name=value lines:
`measurements_per_second`, `measurements_per_cpu_second` (over the agent's
whole CPU time, start-up included: what a busy machine does not change) and
`peak_rss_mb` (DNS only);
`web_measurements_per_second` (DNS measurements over the round's DNS and
follow-up time), `web_followups_per_second` ((name, address) pairs over the
follow-up time) and `web_peak_rss_mb` (the agent's peak RSS in the web pass).

A third pass isolates what the UDP listen window costs: one `UdpChannel` alone
(no spool, no parsing) sends `--names` queries to the same unbound from 256
workers, once with the window and once without, each in its own process pinned
to the probe's core: `udp_listening_peak` (answered queries in their window at
once), `udp_listen_rss_mb` (how far RSS grew over the pass's start, with the
window minus without, sampled every 5 ms) and `udp_listen_kb_per_query` (their
ratio: what one listening query costs, whatever the rate).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
    # answer every name below bench.test locally: the probe is measured, not recursion;
    # the address is where the web pass's nginx listens
    local-zone: "bench.test." redirect
    local-data: "bench.test. 300 IN A 127.0.0.1"
    local-zone: "." refuse
"""
_ROUND = re.compile(r"round \S+: (\d+) measurements in ([\d.]+)s, .*failures ([^\"\n]*)")
_WEB = re.compile(r"round \S+: web follow-up of (\d+) \(name, address\) pairs: (\d+) "
                  r"observations in ([\d.]+)s, (\d+) answer addresses skipped, "
                  r"failures ([^\"\n]*)")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
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


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@dataclass
class Pass:
    measured: int
    seconds: float
    failures: str
    wall: float
    peak_kb: int
    spooled: int
    cpu: float  # the agent's user + system CPU seconds, start-up included
    web: re.Match[str] | None


def _run_pass(work: Path, dns_port: int, args: argparse.Namespace, *, names: int, core: int,
              web: str) -> Pass:
    """One `run --rounds 1` of the agent over `names` names; `web` is its [web] table."""
    work.mkdir()
    listing = work / "names.txt"
    listing.write_text("".join(f"n{i}.bench.test\n" for i in range(names)))
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
file = "{listing}"
[spool]
path = "{work}/spool.db"
[web]
{web}
[[resolvers]]
name = "local"
address = "127.0.0.1"
port = {dns_port}
""")
    started = time.monotonic()
    cpu_before = _children_cpu()
    process = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, "-m", "blockwatch.probe",
         "run", "-c", str(config), "--rounds", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_kb = 0
    while process.poll() is None:
        peak_kb = max(peak_kb, _high_water_kb(process.pid))
        time.sleep(0.05)
    _, stderr = process.communicate()
    wall = time.monotonic() - started
    cpu = _children_cpu() - cpu_before
    found = _ROUND.search(stderr)
    if process.returncode != 0 or not found:
        sys.exit(f"the probe failed (exit {process.returncode}):\n{stderr[-3000:]}")
    spooled = int(subprocess.run(
        ["sqlite3", str(work / "spool.db"), "SELECT COUNT(*) FROM measurements"],
        capture_output=True, text=True, check=False).stdout.strip() or -1) \
        if shutil.which("sqlite3") else -1
    return Pass(int(found[1]), float(found[2]), found[3].strip(), wall, peak_kb, spooled, cpu,
                _WEB.search(stderr))


def _rss_kb() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def _udp_channel_pass(port: int, names: int, window: float) -> tuple[float, int, int]:
    """Rate, most queries listening at once, and the most RSS grew over its start."""
    from blockwatch.probe.dnsmessage import encode_query
    from blockwatch.probe.udp import UdpChannel, UdpOutcome

    channel = UdpChannel("127.0.0.1", port, listen_window=window, timeout=5.0)
    await channel.open()
    closed = 0
    failed: list[str] = []
    everything = asyncio.Event()

    def on_done(outcome: UdpOutcome) -> None:
        nonlocal closed
        closed += 1
        if outcome.failure.label != "none":
            failed.append(outcome.failure.label)
        if closed == names:
            everything.set()

    queue = iter(range(names))

    async def worker() -> None:
        for i in queue:
            await channel.query(encode_query(f"n{i}.bench.test", 1), on_done)

    grown_kb = 0
    start_kb = _rss_kb()

    async def sample() -> None:
        nonlocal grown_kb
        while not everything.is_set():
            grown_kb = max(grown_kb, _rss_kb() - start_kb)
            await asyncio.sleep(0.005)

    sampler = asyncio.ensure_future(sample())
    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(256)))
    seconds = time.monotonic() - started  # to the last first reply, as the agent's rate
    await asyncio.wait_for(everything.wait(), 30)
    await sampler
    channel.close()
    if failed:
        sys.exit(f"the UDP pass saw {len(failed)} failures, e.g. {failed[0]}")
    return names / seconds, channel.listening_peak, grown_kb


def _udp_pass_main(port: int, names: int, window: float) -> int:
    """In a process of its own, so that passes do not share a heap."""
    print(*asyncio.run(_udp_channel_pass(port, names, window)))
    return 0


def _udp_pass(port: int, names: int, window: float, core: int) -> tuple[float, int, int]:
    done = subprocess.run(
        ["taskset", "-c", str(core), sys.executable, __file__, "--udp-pass", str(port),
         "--names", str(names), "--listen-window", str(window)],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the UDP pass failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    rate, peak, grown_kb = done.stdout.split()
    return float(rate), int(peak), int(grown_kb)


def _print_udp(with_window: tuple[float, int, int], without: tuple[float, int, int]) -> None:
    rate, peak, grown_kb = with_window
    extra_kb = grown_kb - without[2]
    print(f"udp_queries_per_second={rate:.0f}")
    print(f"udp_queries_per_second_no_window={without[0]:.0f}")
    print(f"udp_listening_peak={peak}")
    print(f"udp_listen_rss_mb={extra_kb / 1024:.1f}")
    print(f"udp_listen_kb_per_query={extra_kb / peak if peak else 0:.2f}")


def _print_dns(args: argparse.Namespace, dns: Pass) -> None:
    print(f"names={args.names}")
    print(f"concurrency={args.concurrency}")
    print(f"listen_window_s={args.listen_window}")
    print(f"measurements={dns.measured}")
    print(f"spooled={dns.spooled}")
    print(f"failures={dns.failures}")
    print(f"round_seconds={dns.seconds:.2f}")
    print(f"measurements_per_second={dns.measured / dns.seconds:.0f}")
    print(f"process_wall_seconds={dns.wall:.2f}")
    print(f"process_cpu_seconds={dns.cpu:.2f}")
    # a loaded machine slows the rate, not the CPU each measurement costs
    print(f"measurements_per_cpu_second={dns.measured / dns.cpu:.0f}")
    print(f"peak_rss_mb={dns.peak_kb / 1024:.1f}")


def _print_web(args: argparse.Namespace, web: Pass) -> None:
    if web.web is None:
        sys.exit("the web pass logged no follow-up line")
    pairs, observations, web_seconds = int(web.web[1]), int(web.web[2]), float(web.web[3])
    print(f"web_names={args.web_names}")
    print(f"web_concurrency={args.web_concurrency}")
    print(f"web_measurements={web.measured}")
    print(f"web_followups={pairs}")
    print(f"web_observations={observations}")
    print(f"web_spooled_rows={web.spooled}")  # DNS and web rows
    print(f"web_failures={web.web[5].strip()}")
    print(f"web_dns_seconds={web.seconds:.2f}")
    print(f"web_followup_seconds={web_seconds:.2f}")
    print(f"web_measurements_per_second={web.measured / (web.seconds + web_seconds):.0f}")
    print(f"web_followups_per_second={pairs / web_seconds:.0f}")
    print(f"web_peak_rss_mb={web.peak_kb / 1024:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--listen-window", type=float, default=0.3)
    parser.add_argument("--web-names", type=int, default=5000,
                        help="names of the pass with web follow-up (0: skip it)")
    parser.add_argument("--web-concurrency", type=int, default=32,
                        help="follow-ups in flight ([web] concurrency; the default is 32)")
    parser.add_argument("--udp-names", type=int, default=50_000,
                        help="queries of the UdpChannel-only pass (0: skip it)")
    parser.add_argument("--udp-pass", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.udp_pass:  # the child of the UdpChannel-only pass
        return _udp_pass_main(args.udp_pass, args.names, args.listen_window)
    for program in ("unbound", "taskset", *(("nginx",) if args.web_names else ())):
        if not shutil.which(program):
            sys.exit(f"bench/probe.py needs {program} (scripts/setup.sh installs it)")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the lab harness
    from tests.lab.nginx import Nginx, Site
    from tests.lab.tlsca import LabCA

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
            dns = _run_pass(work / "dns", port, args, names=args.names, core=probe_core,
                            web="enabled = false")
            web = None
            if args.web_names:
                ca = LabCA(work / "ca")
                site = Site("127.0.0.1", ("*.bench.test",), ca.issue("site", "*.bench.test"),
                            title="Bench site", text="x" * 2000)
                https_port, http_port = (free_port(socket.SOCK_STREAM),
                                         free_port(socket.SOCK_STREAM))
                with Nginx(work / "nginx", [site], http_port=http_port, https_port=https_port,
                           wrapper=("taskset", "-c", str(server_core))):
                    web = _run_pass(
                        work / "web", port, args, names=args.web_names, core=probe_core,
                        web=f"enabled = true\nhttps_ports = [{https_port}]\n"
                        f"http_ports = [{http_port}]\nallow_non_global = true\n"
                        f'ca_file = "{ca.ca_path}"\nconcurrency = {args.web_concurrency}\n'
                        f"destination_concurrency = {args.web_concurrency}\n"
                        "destination_rate = 100000.0")
            udp = None
            if args.udp_names:
                udp = (_udp_pass(port, args.udp_names, args.listen_window, probe_core),
                       _udp_pass(port, args.udp_names, 0.0, probe_core))
        finally:
            server.terminate()
            server.wait(10)
    _print_dns(args, dns)
    if web is not None:
        _print_web(args, web)
    if udp is not None:
        _print_udp(*udp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
