"""`blockwatch-probe check`: is this probe ready to measure and deliver?

Each line says what was tried and whether the answer is healthy; the check
fails fast (one CheckIn, a few seconds) instead of retrying like `run` does.
"""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.markup import escape

from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.errors import ProbeError
from blockwatch.probe.observation import Failure, Measurement, Purpose
from blockwatch.probe.render import rcode_text
from blockwatch.probe.runner import Limits, RoundRunner, expand
from blockwatch.probe.targets import Query

# The root's NS set: every recursive resolver can answer it without any target.
_PROBE_QUERY = Query(".", 2, 1, Purpose.CONTROL)
ASKED = "asked '. NS' (the root's name servers)"
COLLECTOR_TIMEOUT_S = 5.0
_OK, _BAD, _WARN = "[green]✓[/green]", "[red]✗[/red]", "[yellow]![/yellow]"


def resolver_verdict(m: Measurement) -> tuple[bool, str]:
    """(healthy, what it answered). A resolver that cannot answer the root's NS
    set with NOERROR and records (SERVFAIL, REFUSED, NXDOMAIN, an empty answer)
    cannot be measured through: its answers to targets would mean nothing."""
    if m.failure is not Failure.NONE:
        return False, f"{m.failure.label}: {m.failure_text}"
    reply = m.responses[0]
    if reply.parse_error:
        return False, f"unparsable reply: {reply.parse_error}"
    answer = f"{rcode_text(reply.rcode)} with {len(reply.answers)} records"
    if reply.rcode != 0:
        return False, f"{answer}: not healthy (a working resolver answers NOERROR)"
    if not reply.answers:
        return False, f"{answer}: not healthy (no records for the root)"
    return True, answer


async def run_checks(config: ProbeConfig, console: Console) -> bool:
    ok = True
    console.print(f"{_OK} config valid (probe {config.name!r})", soft_wrap=True)
    endpoints = expand(config.resolver_specs(), config.resolv_conf)
    results: list[Measurement] = []
    limits = Limits(qps=100.0, concurrency=1, timeout_s=config.limits.timeout_s,
                    listen_window_s=0.0)
    runner = RoundRunner(endpoints, limits)
    await runner.run(lambda: iter([_PROBE_QUERY]), results.append)
    for m in sorted(results, key=lambda m: m.resolver.name):
        ref = m.resolver
        where = f"{ref.name} ({ref.transport.label} {ref.address}:{ref.port})"
        healthy, answer = resolver_verdict(m)
        ok &= healthy
        console.print(f"{_OK if healthy else _BAD} resolver {where}: {ASKED}: "
                      f"{escape(answer)} in {m.duration_us / 1000:.1f} ms",
                      highlight=False, soft_wrap=True)
    if config.collector is not None:
        ok &= await _check_collector(config, console)
    return ok


async def _check_collector(config: ProbeConfig, console: Console) -> bool:
    from blockwatch.probe.spool import Spool
    from blockwatch.probe.upload import Uploader

    assert config.collector is not None
    address = config.collector.addresses[0]
    try:
        with Spool(config.spool_path()) as spool:
            stats = spool.stats()
            console.print(f"{_OK} spool {config.spool_path()}: {stats.pending} pending, "
                          f"{stats.rejected} rejected, {stats.dropped} dropped, "
                          f"{stats.too_large} too large, {stats.lost} lost to WAL damage",
                          highlight=False, soft_wrap=True)
            for task, failures, error, when in spool.task_failures():
                at = dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                console.print(f"{_WARN} task {task} failed {failures} times, last at {at}: "
                              f"{escape(error)}", highlight=False, soft_wrap=True)
            uploader = Uploader(spool, config.collector, config.token(), config.name)
            assignment = await uploader.check_in_once(
                min(config.collector.timeout_s, COLLECTOR_TIMEOUT_S))
    except ProbeError as exc:
        console.print(f"{_BAD} collector {address}: {escape(str(exc))}",
                      highlight=False, soft_wrap=True)
        return False
    console.print(
        f"{_OK} collector {address}: registered as {assignment.probe_name!r} "
        f"({assignment.country or '??'}, AS{assignment.asn}); "
        f"{len(assignment.targets)} targets assigned", highlight=False, soft_wrap=True)
    return True
