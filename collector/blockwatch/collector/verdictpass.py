"""Verdicts inside the collector: a background pass that classifies what was
stored (blockwatch.analysis rules, run by the engine: rules_sql.py), and
reclassification on request from the Reports RPC.

Both run on the analysis lane (lane.py: its own engine client and thread), so
ingest never waits for them. Each lane call handles at most one chunk, so a
report waits for one chunk, not for a whole backlog; a reclassify yields the
lane between its chunks, and the background pass goes on meanwhile above the
reclassify's marks (what had no site verdict yet when it began).

Classification waits `settle_s` after a measurement arrived: its verdict
compares with the control resolution nearest in time, whose batch (from a
control probe) may arrive a little later.

Each pass writes three kinds of verdict, in order (issue 13): DNS verdicts
(rules_sql.py), web verdicts of the follow-ups (webstorage.py, also after
`settle_s`: the control's follow-ups) and site verdicts (sitesql.py), which
wait `web_settle_s` after the DNS measurement arrived, for its follow-ups
(storage.site_cutoff_us). A reclassify deletes and writes again all three.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from blockwatch.analysis.fingerprints import FingerprintSet, load_fingerprints
from blockwatch.analysis.httpfingerprints import HttpFingerprintSet, load_http_fingerprints
from blockwatch.analysis.sitesql import store_pending_site_verdicts
from blockwatch.analysis.storage import (
    PassResult,
    begin_reclassify,
    layers_version,
    reclassify_chunk,
    reclassify_site_chunk,
    reclassify_web_chunk,
    rejudge_web_before_sites,
    site_cutoff_us,
    store_pending_verdicts,
)
from blockwatch.analysis.webstorage import WebPass, store_pending_web_verdicts
from blockwatch.collector.lane import AnalysisLane
from blockwatch.collector.receipts import Receipts
from blockwatch.collector.store import Store
from blockwatch.collector.turns import Turns

log = logging.getLogger(__name__)

# The most a live DNS or site chunk takes. A chunk's engine query costs about
# 0.7 s to analyse and plan whatever its size (a 16 KB query of a dozen CTEs
# and joins), then 4-5 µs a measurement, so under sustained load the pass
# must take what piled up in few large chunks, not many small ones: at 50k/s
# a 200k cap spent half the lane planning and fell behind; with the cap above
# the backlog a turn takes, the chunks grow with the load until the pass
# keeps up. Reclassify chunks stay at storage.CHUNK_ROWS (its slices of the
# lane are what a live turn waits behind).
LIVE_CHUNK_ROWS = 800_000


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        stamp = value.astimezone(dt.UTC) if value.tzinfo else value
        return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


class StoreDatabase:
    """The collector's Store as the analysis package's `Database`.

    Inserts go as `INSERT ... FORMAT JSONEachRow` through `Store.command`: the
    store exposes no generic insert, and verdict chunks are small next to
    measurement ingest.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.cluster = store.cluster

    def rows(self, sql: str, parameters: dict[str, Any] | None = None
             ) -> list[tuple[Any, ...]]:
        return self._store.rows(sql, parameters)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self._store.command(sql, parameters)

    def insert(self, table: str, columns: Sequence[str],
               rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        body = "\n".join(json.dumps(dict(zip(columns, map(_json_value, row), strict=True)))
                         for row in rows)
        self._store.command(f"INSERT INTO {table} FORMAT JSONEachRow\n{body}")


def _now_us() -> int:
    return time.time_ns() // 1000


class VerdictPass:
    def __init__(self, lane: AnalysisLane, *, interval_s: float = 10.0,
                 settle_s: float = 60.0, fingerprints: FingerprintSet | None = None,
                 web_settle_s: float | None = None,
                 http_fingerprints: HttpFingerprintSet | None = None,
                 on_late: Callable[[int], None] | None = None,
                 chunk_rows: int = LIVE_CHUNK_ROWS) -> None:
        self.interval_s = interval_s
        self.chunk_rows = chunk_rows
        self.settle_s = settle_s
        self._web_settle_s = web_settle_s
        self.fingerprints = fingerprints or load_fingerprints()
        self.http_fingerprints = http_fingerprints or load_http_fingerprints()
        self._lane = lane
        # follow-ups found late (after their site verdicts): counted, logged, shown
        self.late_follow_ups = 0
        self._on_late = on_late
        # one turn at a time on the lane: the pass's first, a reclassify's chunk
        # after at most a few of them (turns.py)
        self._turns = Turns()
        # a reclassify in progress owns what is older (DNS, web, site marks)
        self._floor_us = self._web_floor_us = self._site_floor_us = 0
        # what this collector stored, so the pass wakes when it is due
        self._receipts = Receipts()
        self._arrived = asyncio.Event()
        self._began_us = 0        # when the pass's last round began
        self._took_s = 0.0        # how long the last pass took

    @property
    def web_settle_s(self) -> float:
        """How long a site verdict waits for follow-ups (default: 2 x settle_s)."""
        return 2 * self.settle_s if self._web_settle_s is None else self._web_settle_s

    @web_settle_s.setter
    def web_settle_s(self, value: float | None) -> None:
        self._web_settle_s = value

    def _database(self) -> StoreDatabase:
        return StoreDatabase(self._lane.store)

    def stored(self, received_us: int) -> None:
        """The ingest writer stored a group received at `received_us`."""
        self._receipts.add(received_us)
        self._arrived.set()

    def _waits_us(self) -> tuple[int, int]:
        """How long after its receipt a measurement is due for its DNS verdict,
        and for its site verdict: the site cutoff's own rule applied to a web
        frontier that is itself the settle time behind (a receipt at 0 is due
        when the cutoff reaches 0)."""
        settle = int(self.settle_s * 1e6)
        return settle, settle - site_cutoff_us(0, self.web_settle_s)

    async def wait_until_due(self) -> None:
        """Sleep until something this collector stored is due for a verdict,
        `interval_s` at most (what it does not see arrive: another collector's
        inserts, late follow-ups), and at least as long as the last pass took
        (up to `interval_s`): a chunk's fixed cost is about a second of
        planning, so under load the pass gathers work between passes instead
        of running a small chunk after every insert (no more than half the
        lane's time on passes that find little)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.interval_s
        earliest = started + min(self._took_s, self.interval_s)
        while True:
            self._arrived.clear()
            now = loop.time()
            timeout = deadline - now
            if (due := self._receipts.next_due_us(self._began_us, self._waits_us())) is not None:
                timeout = min(timeout, max((due - _now_us()) / 1e6, earliest - now))
            if timeout <= 0:
                return
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                return

    async def run_when_due(self) -> int:
        """The server's step: wait until something is due, then `run_once`."""
        await self.wait_until_due()
        return await self.run_once()

    async def run_once(self) -> int:
        """Classify what has settled, a chunk of each layer in turn (DNS, web
        follow-ups, sites) until none has work left; returns DNS measurements
        done.

        In turn, not each layer to the end: under sustained load there is
        always another DNS chunk, and a pass that drained DNS first wrote no
        site verdict (what reports read) for as long as the load lasted. One
        turn holds the lane as one bounded slice (three chunks): a reclassify's
        chunk runs between turns, not before each layer.

        The server runs it under supervision (blockwatch.runtime.supervise): any error is
        logged, counted, shown in health and retried after a backoff (verdicts
        are derived data: nothing is lost, only late)."""
        done = 0
        started = time.perf_counter()
        version = layers_version(self.fingerprints, self.http_fingerprints)
        while True:
            began_us = _now_us()
            async with self._turns.turn(live=True):
                result: PassResult = await self._lane.call(functools.partial(
                    store_pending_verdicts, self._database(), self.fingerprints,
                    settle_s=self.settle_s, floor_us=self._floor_us, max_rows=self.chunk_rows))
                # the site cutoff derives from the web frontier: every follow-up
                # received up to it has a verdict, caught up or not
                web: WebPass = await self._lane.call(functools.partial(
                    store_pending_web_verdicts, self._database(), self.http_fingerprints,
                    settle_s=self.settle_s, now_us=_now_us(), floor_us=self._web_floor_us))
                sites: int = await self._lane.call(functools.partial(
                    store_pending_site_verdicts, self._database(), version,
                    cutoff_us=site_cutoff_us(web.frontier_us, self.web_settle_s),
                    floor_us=self._site_floor_us, max_rows=self.chunk_rows))
            if web.late:
                self.late_follow_ups += web.late
                if self._on_late is not None:
                    self._on_late(web.late)
            done += result.measurements
            if not (result.measurements or web.observations or sites):
                # everything due when this round began is judged
                self._began_us = began_us
                self._receipts.passed(began_us, self._waits_us())
                self._took_s = time.perf_counter() - started
                return done

    async def reclassify(self, since: dt.date | None) -> PassResult:
        """Delete and write again the verdicts from `since` (DNS, web, site),
        one chunk per lane call; then catch up as the pass would."""
        started = time.perf_counter()
        db = self._database()
        async with self._turns.turn(live=False):
            plan = await self._lane.call(lambda: begin_reclassify(db, since))
            self._floor_us = plan.mark_us
            self._web_floor_us, self._site_floor_us = plan.web_mark_us, plan.site_mark_us
        # what it rewrites (received up to the marks) and what the pass judges meanwhile
        log.info("event=reclassify_begun since=%s mark_us=%d web_mark_us=%d site_mark_us=%d "
                 "chunks=%d", since, plan.mark_us, plan.web_mark_us, plan.site_mark_us,
                 len(plan.chunks) + len(plan.web_chunks) + len(plan.site_chunks))
        total = 0
        try:
            for chunk in plan.chunks:
                async with self._turns.turn(live=False):
                    total += await self._lane.call(functools.partial(
                        reclassify_chunk, db, self.fingerprints, plan, chunk))
            for chunk in plan.web_chunks:
                async with self._turns.turn(live=False):
                    await self._lane.call(functools.partial(
                        reclassify_web_chunk, db, self.http_fingerprints, plan, chunk))
            ready = False
            while not ready:
                async with self._turns.turn(live=False):
                    ready = await self._lane.call(functools.partial(
                        rejudge_web_before_sites, db, self.http_fingerprints, plan))
            for chunk in plan.site_chunks:
                async with self._turns.turn(live=False):
                    await self._lane.call(functools.partial(
                        reclassify_site_chunk, db, self.fingerprints, self.http_fingerprints,
                        plan, chunk))
        finally:
            self._floor_us = self._web_floor_us = self._site_floor_us = 0
        total += await self.run_once()
        log.info("event=reclassified since=%s measurements=%d chunks=%d", since, total,
                 len(plan.chunks) + len(plan.web_chunks) + len(plan.site_chunks))
        return PassResult(total, time.perf_counter() - started)
