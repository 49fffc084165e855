"""`blockwatch-collector serve`: the grpc.aio server and its lifecycle.

Start: open ClickHouse (the ingest writer's client, on its thread) and apply migrations,
then the analysis lane's client (classification, reports, discovery), open the
registry, mirror orders, bind TCP (TLS, or plaintext only on loopback or with
--insecure) and/or a unix socket, health + reflection, metrics.

SIGTERM/SIGINT: health NOT_SERVING, new calls refused, every Submit stream
answers the batches it already accepted and ends with UNAVAILABLE (so probes
reconnect and resend the rest), queued inserts finish, then exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import time
from dataclasses import dataclass, field

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from blockwatch.collector import reports_servicer
from blockwatch.collector.assignment import Assignment, build_assignment
from blockwatch.collector.auth import AuthInterceptor
from blockwatch.collector.discovery import DiscoveryState, discover
from blockwatch.collector.enginethreads import MergeThreads
from blockwatch.collector.errors import ConfigError
from blockwatch.collector.lane import (
    AnalysisLane,
    AnalystGate,
    background_threads,
    can_lower_engine_threads,
)
from blockwatch.collector.metrics import Metrics
from blockwatch.collector.orders import OrderSet
from blockwatch.collector.registry import Principal, Registry
from blockwatch.collector.servicer import (
    METHOD_ROLES,
    ProbeActivity,
    ProbeServicer,
    add_to_server,
    file_descriptor_names,
)
from blockwatch.collector.settings import Settings
from blockwatch.collector.store import Store
from blockwatch.collector.verdictpass import VerdictPass
from blockwatch.collector.writer import IngestWriter
from blockwatch.runtime.supervise import Supervised
from blockwatch.schema.principals import Role

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 2.0
# CPU priority (nice) of the background lane and of the reports lane: below
# ingest's (docs/design-notes.md, "Ingest never waits").
BACKGROUND_NICE = 10
REPORTS_NICE = 5
# Health service names of the supervised background tasks (blockwatch.runtime's
# supervise.py): NOT_SERVING while the task is failing; the overall ("") status
# stays about ingest.
# (operators' names: the health service and the task label stayed "classify"
# when the module became verdictpass.py)
CLASSIFY_HEALTH = "blockwatch.collector.classify"
HOUSEKEEPING_HEALTH = "blockwatch.collector.housekeeping"
_ROLES: dict[str, Role] = {method: "probe" if role == "probe" else "analyst"
                          for method, role in (METHOD_ROLES | reports_servicer.METHOD_ROLES
                                               ).items()}


# Descriptors kept out of the connection cap: ClickHouse parts, the registry,
# the metrics server, logs. At 1,024 descriptors the cap is 768 connections.
FD_RESERVE = 256
HANDSHAKE_TIMEOUT_MS = 10_000     # a peer that never completes TLS/HTTP2 set-up
MAX_STREAMS_PER_CONNECTION = 64   # a probe needs one Submit stream and a CheckIn


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (systemd's default soft
    limit is 1024); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("event=nofile_not_raised soft=%d hard=%d error=%r", soft, hard, exc)
    return soft


def connection_cap(nofile: int) -> int:
    """Most TCP connections served at once: the descriptors left after a
    reserve, so a storm of idle connections can never take the descriptors that
    inserts and accepted probes need (beyond the cap, gRPC closes new
    connections at once instead of failing accept() with EMFILE)."""
    return max(16, nofile - max(FD_RESERVE, nofile // 4))


def server_options(settings: Settings, nofile: int | None = None) -> list[tuple[str, int]]:
    limit = nofile if nofile is not None else resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        # Probes ping every 60 s; accept pings down to 30 s apart so they are
        # never answered with GOAWAY too_many_pings.
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 30_000),
        ("grpc.keepalive_permit_without_calls", 0),
        # Our own pings find dead peers holding a stream open.
        ("grpc.keepalive_time_ms", 120_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.so_reuseport", 0),   # a second collector on the same port must fail
        # Connection storms (1,100 idle HTTP/2 connections once took every
        # descriptor): a cap below the descriptor limit, connections with no
        # call closed after the idle timeout (a probe's open Submit stream is a
        # call; between rounds it reconnects), set-up bounded in time, and a
        # bounded number of streams per connection.
        ("grpc.max_allowed_incoming_connections", connection_cap(limit)),
        ("grpc.max_connection_idle_ms", int(settings.idle_timeout_s * 1000)),
        ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
        ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
    ]


Activity = tuple[float, int, int, int, str]   # last seen, batches, measurements, rejected, error


def merge_activity(old: dict[str, Activity], new: dict[str, Activity]
                   ) -> dict[str, Activity]:
    """Per-probe activity of two flush periods as one (the later error wins)."""
    merged = dict(old)
    for name, (seen, batches, measurements, rejected, error) in new.items():
        if name in merged:
            o = merged[name]
            merged[name] = (max(o[0], seen), o[1] + batches, o[2] + measurements,
                            o[3] + rejected, error or o[4])
        else:
            merged[name] = (seen, batches, measurements, rejected, error)
    return merged


@dataclass(slots=True)
class _OrdersCache:
    version: int = -1
    orders: OrderSet = field(default_factory=OrderSet)
    mirrored: int = -1


class Collector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.registry = Registry(settings.registry_path)
        self.activity = ProbeActivity(self.metrics)
        # Everything but ingest on other engine clients and threads (lane.py):
        # classification and the other background jobs on one, analysts'
        # reports on another, so a report never waits for a classification
        # chunk. Both below ingest's CPU priority: the lane's own thread by
        # its nice value, the engine's query threads by os_thread_priority
        # (ClickHouse applies it with CAP_SYS_NICE, as root; without it only
        # the lane's own thread is lowered: a report's second engine thread
        # then competed with ingest at equal priority).
        self.engine_threads_lowered = can_lower_engine_threads()
        self.background_threads = background_threads(niceable=self.engine_threads_lowered,
                                                      cores=os.cpu_count())
        self.lane = AnalysisLane(lambda: self._open_analysis_store(
            {"max_threads": self.background_threads,
             "os_thread_priority": BACKGROUND_NICE,
             # a site verdict chunk feeds four rollup views one after another:
             # side by side they were faster (200k verdicts idle: 1.72 s, not
             # 2.66), but at 50k/s with a Reclassify ingest's ack p99 was
             # 271 ms (median of 5 runs) against 248, the Reclassify 7 % faster
             # (session 7, docs/design-notes.md)
             "parallel_view_processing": 0}),
            nice=BACKGROUND_NICE)
        self.reports_lane = AnalysisLane(lambda: self._open_analysis_store(
            {"os_thread_priority": REPORTS_NICE}), nice=REPORTS_NICE)
        self.gate = AnalystGate()
        # the engine's merges too (enginethreads.py): background work like the lane's
        self.merge_threads = MergeThreads(BACKGROUND_NICE)
        self.verdict_pass = VerdictPass(self.lane, settle_s=settings.settle_s,
                                       web_settle_s=settings.web_settle_s,
                                       on_late=self.metrics.late_follow_ups.inc)
        self.writer = IngestWriter(self._open_store, self.metrics,
                                   max_rows=settings.max_group_rows,
                                   on_stored=self.verdict_pass.stored)
        self.closing = asyncio.Event()
        self.health = HealthServicer()
        self.tcp_ports: list[int] = []
        self._server: grpc.aio.Server | None = None
        self._orders = _OrdersCache()
        self.housekeeping_s = HOUSEKEEPING_S
        self.discovery = DiscoveryState()    # mirror candidates (issue 14)
        self._candidate_turns: dict[str, int] = {}   # per probe: its next candidate window
        self.discovery_s = settings.assignment.discovery_interval_s
        self.tasks: dict[str, Supervised] = {
            # the pass sleeps until what was stored is due (interval_s at most)
            "classify": Supervised(
                "classify", self.verdict_pass.run_when_due,
                interval_s=lambda: 0.0, metrics=self.metrics,
                set_health=lambda ok: self._set_health(CLASSIFY_HEALTH, ok)),
            "housekeeping": Supervised(
                "housekeeping", self._housekeep_once, interval_s=lambda: self.housekeeping_s,
                metrics=self.metrics,
                set_health=lambda ok: self._set_health(HOUSEKEEPING_HEALTH, ok)),
            "discovery": Supervised(
                "discovery", self._discover_once, interval_s=lambda: self.discovery_s,
                metrics=self.metrics),
        }
        self._running: list[asyncio.Task[None]] = []
        self._unrecorded: dict[str, Activity] = {}
        self._metrics_server: object | None = None
        self._stopped = asyncio.Event()

    def _open_store(self) -> Store:
        store = Store(self.settings.db, self.settings.database, self.settings.cluster)
        applied = store.migrate()
        for migration in applied:
            log.info("event=migration_applied version=%04d name=%s", migration.version,
                     migration.name)
        return store

    def _open_analysis_store(self, engine: dict[str, object]) -> Store:
        return Store(self.settings.db, self.settings.database, self.settings.cluster,
                     settings=engine)

    # -- assignment -----------------------------------------------------------

    def _current_orders(self) -> OrderSet:
        version = self.registry.orders_version()
        if version != self._orders.version:
            self._orders.orders = self.registry.orders()
            self._orders.version = version
        return self._orders.orders

    def assignment_for(self, probe: Principal) -> Assignment:
        # each check-in (a round) gets the next window of candidates
        turn = self._candidate_turns.get(probe.name, 0)
        self._candidate_turns[probe.name] = turn + 1
        return build_assignment(probe.country, self._current_orders(),
                                self.settings.assignment, candidates=self.discovery.measure,
                                offset=turn, pinned=self.discovery.derived)

    async def _mirror_orders(self) -> None:
        orders = self._current_orders()
        if self._orders.mirrored != self._orders.version:
            await self.lane.call(self.lane.store.replace_orders, orders)
            self._orders.mirrored = self._orders.version
            log.info("event=orders_mirrored orders=%d version=%d", len(orders.orders),
                     self._orders.version)

    async def _discover_once(self) -> None:
        await self._mirror_orders()   # approvals reach order_domains first
        # on the analysis lane: a scan of minutes must not hold ingest's client
        await self.lane.call(discover, self.lane.store, self._current_orders(),
                               self.registry.rejections(), self.discovery)

    def _record_activity(self) -> None:
        """Flush probe activity to the registry; on failure it is kept and folded
        into the next attempt, not lost."""
        self._unrecorded = merge_activity(self._unrecorded, self.activity.take())
        self.registry.record_activity(self._unrecorded)
        self._unrecorded = {}

    async def _housekeep_once(self) -> None:
        self._record_activity()
        if lowered := self.merge_threads.lower():
            log.info("event=merge_threads_lowered threads=%d nice=%d", lowered,
                     self.merge_threads.nice)
        await self._mirror_orders()

    async def _set_health(self, service: str, serving: bool) -> None:
        await self.health.set(service, health_pb2.HealthCheckResponse.SERVING if serving
                              else health_pb2.HealthCheckResponse.NOT_SERVING)

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        s.check_serving()
        nofile = raise_nofile_limit()   # before chDB opens its files
        await self.writer.start()    # applies migrations first
        await self.lane.start()
        await self.reports_lane.start()
        self.merge_threads.lower()
        await self._mirror_orders()
        server = grpc.aio.server(
            interceptors=[AuthInterceptor(self.registry, _ROLES, self.metrics,
                                          mtls=s.client_ca is not None)],
            options=server_options(s, nofile))
        add_to_server(ProbeServicer(
            writer=self.writer, registry=self.registry, metrics=self.metrics,
            activity=self.activity, limits=s.limits, assignment_for=self.assignment_for,
            closing=self.closing), server)
        reports_servicer.add_to_server(
            reports_servicer.ReportServicer(self.reports_lane, self.verdict_pass, self.gate),
            server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*file_descriptor_names(), *reports_servicer.file_descriptor_names(),
             health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME), server)
        credentials = self._credentials()
        for address in s.listen:
            try:
                if credentials is None:
                    port = server.add_insecure_port(address)
                else:
                    port = server.add_secure_port(address, credentials)
            except RuntimeError as exc:
                raise ConfigError(f"cannot listen on {address}: {exc}", field="listen") from exc
            self.tcp_ports.append(port)
        if s.unix:
            server.add_insecure_port(f"unix:{s.unix}")
        await server.start()
        self._server = server
        # per-service health too: load balancers may ask for the service by name
        for service in (*file_descriptor_names(), *reports_servicer.file_descriptor_names(),
                        CLASSIFY_HEALTH, HOUSEKEEPING_HEALTH):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        if s.metrics:
            self._metrics_server = self.metrics.serve(s.metrics)[0]
        self._running = [asyncio.create_task(job.run(), name=name)
                         for name, job in self.tasks.items()]
        log.info("event=serving listen=%s ports=%s unix=%s tls=%s mtls=%s db=%s nofile=%d "
                 "max_connections=%d idle_timeout_s=%g engine_threads_lowered=%s "
                 "background_threads=%d merge_threads_lowered=%d",
                 ",".join(s.listen), self.tcp_ports, s.unix or "-", credentials is not None,
                 s.client_ca is not None, s.db.split("@")[-1], nofile, connection_cap(nofile),
                 s.idle_timeout_s, self.engine_threads_lowered, self.background_threads,
                 self.merge_threads.lowered)

    def _credentials(self) -> grpc.ServerCredentials | None:
        s = self.settings
        if s.cert is None or s.key is None:
            return None
        root = s.client_ca.read_bytes() if s.client_ca else None
        return grpc.ssl_server_credentials(
            [(s.key.read_bytes(), s.cert.read_bytes())], root_certificates=root,
            require_client_auth=root is not None)

    async def stop(self, grace: float | None = None) -> None:
        """Graceful: see the module docstring. Safe to call twice."""
        if self.closing.is_set():
            await self._stopped.wait()
            return
        started = time.monotonic()
        log.info("event=stopping")
        self.closing.set()
        try:
            await self.health.enter_graceful_shutdown()
            if self._server is not None:
                await self._server.stop(self.settings.grace_s if grace is None else grace)
        finally:
            # Whatever failed above or in a task, the writer finishes its queue
            # and releases ClickHouse, and the registry gets the last activity.
            for task in self._running:
                task.cancel()
            for outcome in await asyncio.gather(*self._running, return_exceptions=True):
                if isinstance(outcome, Exception):
                    log.error("event=task_failed_at_stop error=%r", outcome, exc_info=outcome)
            try:
                try:
                    await self.writer.stop()
                finally:
                    await self.lane.stop()
                    await self.reports_lane.stop()
            finally:
                try:
                    self._record_activity()
                except Exception:   # shutting down: say what is lost, close the rest
                    log.exception("event=activity_not_recorded probes=%d",
                                  len(self._unrecorded))
                self.registry.close()
                if self._metrics_server is not None:
                    self._metrics_server.shutdown()  # type: ignore[attr-defined]
                log.info("event=stopped seconds=%.2f", time.monotonic() - started)
                self._stopped.set()

    async def serve_forever(self) -> None:
        await self.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await self.stop()
