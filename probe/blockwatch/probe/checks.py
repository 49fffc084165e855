"""`blockwatch-probe check`: is this probe ready to measure and deliver?"""

from __future__ import annotations

from rich.console import Console

from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.errors import ProbeError
from blockwatch.probe.observation import Failure, Measurement, Purpose
from blockwatch.probe.render import rcode_text
from blockwatch.probe.runner import Limits, RoundRunner, expand
from blockwatch.probe.targets import Query

# The root's NS set: every recursive resolver can answer it without any target.
_PROBE_QUERY = Query(".", 2, 1, Purpose.CONTROL)


async def run_checks(config: ProbeConfig, console: Console) -> bool:
    ok = True
    console.print(f"[green]✓[/green] config valid (probe {config.name!r})")
    endpoints = expand(config.resolver_specs(), config.resolv_conf)
    results: list[Measurement] = []
    limits = Limits(qps=100.0, concurrency=1, timeout_s=config.limits.timeout_s,
                    listen_window_s=0.0)
    runner = RoundRunner(endpoints, limits)
    await runner.run(lambda: iter([_PROBE_QUERY]), results.append)
    for m in sorted(results, key=lambda m: m.resolver.name):
        ref = m.resolver
        where = f"{ref.name} ({ref.transport.label} {ref.address}:{ref.port})"
        if m.failure is Failure.NONE and not m.responses[0].parse_error:
            console.print(f"[green]✓[/green] resolver {where}: "
                          f"{rcode_text(m.responses[0].rcode)} in {m.duration_us / 1000:.1f} ms")
        else:
            ok = False
            console.print(f"[red]✗[/red] resolver {where}: {m.failure.label}: {m.failure_text}")
    if config.collector is not None:
        from blockwatch.probe.spool import Spool
        from blockwatch.probe.upload import Uploader

        try:
            with Spool(config.spool_path()) as spool:
                stats = spool.stats()
                console.print(f"[green]✓[/green] spool {config.spool_path()}: "
                              f"{stats.pending} pending, {stats.rejected} rejected, "
                              f"{stats.dropped} dropped")
                uploader = Uploader(spool, config.collector, config.token(), config.name)
                assignment = await uploader.check_in()
            console.print(
                f"[green]✓[/green] collector {config.collector.addresses[0]}: registered as "
                f"{assignment.probe_name!r} ({assignment.country or '??'}, AS{assignment.asn}); "
                f"{len(assignment.targets)} targets assigned")
        except ProbeError as exc:
            ok = False
            console.print(f"[red]✗[/red] collector: {exc}")
    return ok
