"""The probe agent: rounds on a schedule, spooling and uploading as it goes.

Sockets live in runner/udp/streams, the spool in spool.py, the collector in
upload.py; this module only decides what happens when.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from blockwatch.probe.config import DEFAULT_QTYPES, ProbeConfig
from blockwatch.probe.errors import (
    ConfigError,
    ProbeError,
    SpoolError,
    SpoolFullError,
    TokenRefused,
    UploadError,
)
from blockwatch.probe.followup import Followable, WebSink, follow_round
from blockwatch.probe.observation import Measurement
from blockwatch.probe.resolvers import ResolverSpec
from blockwatch.probe.runner import Limits, RoundRunner, RoundSummary, expand
from blockwatch.probe.sink import SpoolSink
from blockwatch.probe.spool import Spool
from blockwatch.probe.targets import (
    Target,
    make_targets,
    plan_queries,
    queries_per_resolver,
    read_target_file,
)
from blockwatch.probe.web import WebEngine
from blockwatch.probe.webbounds import bound_web_observation
from blockwatch.probe.webobservation import WebObservation
from blockwatch.runtime.supervise import TaskHealth, supervise

if TYPE_CHECKING:
    # grpc costs ~8 MB: a probe without a collector never loads it
    from blockwatch.probe.upload import Uploader, UploadStats
    from blockwatch.probe.wire import Assignment

log = logging.getLogger(__name__)

TOKEN_RETRY_S = 300.0
Progress = Callable[[int, int], Callable[[int], None] | None]  # (total, resolvers) -> advance


@dataclass(slots=True)
class RoundPlan:
    targets: list[Target]
    resolvers: list[ResolverSpec]
    qtypes: list[int]


@dataclass(slots=True)
class OnceResult:
    summary: RoundSummary
    measurements: list[Measurement] = field(default_factory=list)
    web: list[WebObservation] = field(default_factory=list)
    upload: UploadStats | None = None
    left_in_spool: int = 0


def limits_of(config: ProbeConfig) -> Limits:
    lim = config.limits
    return Limits(lim.qps, lim.concurrency, lim.timeout_s, lim.listen_window_s,
                  lim.stream_concurrency)


def local_targets(config: ProbeConfig) -> list[Target]:
    targets = make_targets(config.targets.domains, config.targets.controls)
    if config.targets.file:
        known = {t.domain for t in targets}
        targets += [t for t in read_target_file(Path(config.targets.file))
                    if t.domain not in known]
    return targets


def plan_round(config: ProbeConfig, assignment: Assignment | None,
               cli_domains: list[str] | None = None) -> RoundPlan:
    """Local choices win over the collector's: a name given on the command line or in
    the config is what the operator asked for."""
    if cli_domains:
        targets = make_targets(cli_domains)
    else:
        targets = local_targets(config)
        if not targets and assignment is not None:
            targets = assignment.targets
            if assignment.invalid:
                log.warning("ignoring %d invalid names in the assignment: %s",
                            len(assignment.invalid), ", ".join(assignment.invalid[:5]))
    if not targets:
        raise ConfigError("nothing to measure: give names, [targets] in the config, "
                          "or a collector that assigns targets", field="targets")
    resolvers = config.resolver_specs() if (config.resolvers or assignment is None
                                           or not assignment.resolvers) else assignment.resolvers
    qtypes = config.qtype_numbers()
    if not qtypes:
        qtypes = assignment.qtypes if assignment and assignment.qtypes else DEFAULT_QTYPES
    return RoundPlan(targets, resolvers, qtypes)


async def measure(config: ProbeConfig, plan: RoundPlan, sink: Callable[[Measurement], None],
                  progress: Progress | None = None, *, web: WebEngine | None = None,
                  web_sink: WebSink | None = None) -> RoundSummary:
    """One round: DNS through every resolver, then (with `web` and `web_sink`) the
    web follow-up of the target names' answers."""
    endpoints = expand(plan.resolvers, config.resolv_conf)
    runner = RoundRunner(endpoints, limits_of(config), keep_wire=config.keep_wire)
    per_resolver = queries_per_resolver(plan.targets, plan.qtypes,
                                        identity=config.identity_checks)
    advance = progress(per_resolver * len(endpoints), len(endpoints)) if progress else None
    followable = Followable(web.config) if web is not None and web_sink is not None else None

    def dns_sink(m: Measurement) -> None:
        sink(m)
        if followable is not None:
            followable(m)

    summary = await runner.run(
        lambda: plan_queries(plan.targets, plan.qtypes, identity=config.identity_checks),
        dns_sink, progress=advance)
    if web is not None and web_sink is not None and followable is not None:
        summary.web = await follow_round(web, followable.plan(), summary.round_id,
                                         web_sink)
    return summary


def web_engine(config: ProbeConfig) -> WebEngine | None:
    """The follow-up engine ([web] enabled), one per probe, reused across rounds."""
    return WebEngine(config.web) if config.web.enabled else None


def open_spool(config: ProbeConfig) -> Spool:
    return Spool(config.spool_path(), max_bytes=int(config.spool.max_mb * 1024 * 1024),
                 on_full=config.spool.on_full, fsync=config.spool.fsync)


async def once(config: ProbeConfig, domains: list[str] | None, *,
               progress: Progress | None = None, upload_timeout_s: float = 60.0) -> OnceResult:
    """One round. Measurements are spooled and uploaded when a collector is configured."""
    collected: list[Measurement] = []
    observed: list[WebObservation] = []
    engine = web_engine(config)
    if config.collector is None:
        plan = plan_round(config, None, domains)
        summary = await measure(config, plan, collected.append, progress, web=engine,
                                web_sink=lambda o: observed.append(bound_web_observation(o)))
        return OnceResult(summary, collected, observed)

    from blockwatch.probe.upload import Uploader

    uploader_stop = asyncio.Event()
    with open_spool(config) as spool:
        uploader = Uploader(spool, config.collector, config.token(), config.name)
        assignment = None
        if not domains and not local_targets(config):
            assignment = await uploader.check_in()
        plan = plan_round(config, assignment, domains)
        spool_sink = SpoolSink(spool, on_commit=uploader.new_data.set)

        def sink(m: Measurement) -> None:
            collected.append(m)
            spool_sink(m)

        def web_sink(o: WebObservation) -> None:
            observed.append(bound_web_observation(o))
            spool_sink.web(o)

        upload_task = asyncio.create_task(uploader.run(uploader_stop, drain=False))
        try:
            summary = await measure(config, plan, sink, progress, web=engine, web_sink=web_sink)
            spool_sink.close()
        finally:
            uploader_stop.set()
            with contextlib.suppress(ProbeError):
                await upload_task
        # The round is on disk; now deliver what is left, within the time allowed.
        stop = asyncio.Event()
        try:
            stats = await uploader.run(stop, drain=True, give_up_after_s=upload_timeout_s)
        except UploadError as exc:
            log.error("upload incomplete: %s", exc)
            stats = uploader.stats
        return OnceResult(summary, collected, observed, stats, spool.pending())


class Agent:
    """`blockwatch-probe run`: rounds on the schedule until stopped."""

    def __init__(self, config: ProbeConfig, progress: Progress | None = None) -> None:
        self.config = config
        self.progress = progress
        self.rounds = 0
        self.health = TaskHealth()
        self._assignment: Assignment | None = None
        self._round_task: asyncio.Task[RoundSummary] | None = None
        self._paused_for: str = ""      # why rounds are not starting, said once
        self._web = web_engine(config)

    async def run(self, stop: asyncio.Event, *, max_rounds: int | None = None) -> None:
        config = self.config
        with open_spool(config) as spool:
            uploader = None
            upload_task: asyncio.Task[None] | None = None
            if config.collector is not None:
                from blockwatch.probe.upload import Uploader

                uploader = Uploader(spool, config.collector, config.token(), config.name)
                up = uploader
                upload_task = asyncio.create_task(supervise(
                    "upload", lambda: self._upload(up, stop), stop, self.health,
                    on_failure=spool.record_task_failure))
            sink = SpoolSink(spool, on_commit=uploader.new_data.set if uploader else None,
                             on_error=self._stop_round)
            try:
                while not stop.is_set():
                    await self._one_round(spool, sink, uploader, stop)
                    if max_rounds is not None and self.rounds >= max_rounds:
                        break
                    await self._sleep_until_next(stop)
            finally:
                sink.flush()    # whatever was measured goes to disk before we exit
                stop.set()      # the uploader always stops, whatever happened above
                if upload_task is not None:
                    await asyncio.gather(upload_task, return_exceptions=True)
                log.info("stopped after %d rounds; %d measurements wait in the spool",
                         self.rounds, spool.pending())
                try:
                    sink.close()
                except SpoolError as exc:
                    log.error("%s", exc)
                    raise

    def _stop_round(self, error: SpoolError) -> None:
        """The spool cannot take measurements: a round going on now stops."""
        if self._round_task is not None and not self._round_task.done():
            self._round_task.cancel()

    def _ready(self, spool: Spool, sink: SpoolSink) -> str:
        """Why no round may start now ("" if one may)."""
        if sink.failing or spool.disk_full:
            if spool.recover():
                sink.flush()
            if sink.failing or spool.disk_full:
                why = sink.error or "disk full"
                return (f"spool {spool.path} cannot take measurements ({why}); "
                        f"{sink.held} measured ones held in memory")
        try:
            spool.check_room()
        except SpoolFullError as exc:
            return str(exc)
        return ""

    async def _one_round(self, spool: Spool, sink: SpoolSink, uploader: Uploader | None,
                         stop: asyncio.Event) -> None:
        paused = self._ready(spool, sink)
        if paused:
            if paused != self._paused_for:
                log.error("no new round: %s", paused)
            self._paused_for = paused
            return
        self._paused_for = ""
        if uploader is not None and not local_targets(self.config):
            try:
                self._assignment = await asyncio.wait_for(uploader.check_in(), 60)
            except (UploadError, TimeoutError) as exc:
                log.warning("check-in failed (%s); using the last assignment", exc)
        try:
            plan = plan_round(self.config, self._assignment)
        except ConfigError as exc:
            log.error("%s", exc)
            return
        committed = sink.committed
        round_task = self._round_task = asyncio.create_task(
            measure(self.config, plan, sink, self.progress, web=self._web, web_sink=sink.web))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({round_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not round_task.done():
            round_task.cancel()  # stopping: unfinished queries are not measurements
        with contextlib.suppress(asyncio.CancelledError):
            await round_task
        if round_task.cancelled():
            if sink.failing:
                log.error("round stopped: %d measurements committed, %d held in memory "
                          "(not committed): %s", sink.committed - committed, sink.held,
                          sink.error)
            return
        summary = round_task.result()
        sink.flush()
        self.rounds += 1
        spooled = sink.committed - committed
        log.info("round %s: %d measurements in %.1fs, %d committed to the spool%s, "
                 "failures %s", summary.round_id, summary.measurements, summary.elapsed_s,
                 spooled, f", {sink.held} NOT COMMITTED (held in memory)" if sink.held else "",
                 summary.failures or "none")
        if summary.web is not None:
            w = summary.web
            log.info("round %s: web follow-up of %d (name, address) pairs: %d observations "
                     "in %.1fs, %d answer addresses skipped, failures %s", summary.round_id,
                     w.followups, w.observations, w.elapsed_s, w.skipped, w.failures or "none")

    async def _upload(self, uploader: Uploader, stop: asyncio.Event) -> None:
        try:
            await uploader.run(stop)
        except TokenRefused as exc:
            # Measuring goes on and the spool keeps everything; the token file is
            # read again on the next try, so a fixed one needs no restart.
            log.error("%s; measurements stay in the spool; trying again in %.0fs "
                      "with the token file read again", exc, TOKEN_RETRY_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TOKEN_RETRY_S)
            with contextlib.suppress(ConfigError):
                uploader.set_token(self.config.token())

    async def _sleep_until_next(self, stop: asyncio.Event) -> None:
        schedule = self.config.schedule
        interval, jitter = schedule.interval_s, schedule.jitter_s
        if self._assignment is not None and self._assignment.interval_s:
            interval, jitter = self._assignment.interval_s, self._assignment.jitter_s
        delay = interval + random.uniform(-jitter, jitter) if jitter else interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, delay))
