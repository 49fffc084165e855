"""Group commit: measurements go to the spool in one transaction every few
milliseconds rather than one each, so the spool keeps up with thousands per second.

A measurement counts as recorded once committed (`committed`); a crash inside
the window loses only measurements that were never reported anywhere.

When a commit fails (a full disk), the measurements stay in memory, `on_error`
tells the agent to stop the round, and the commit is retried with backoff off
the event loop's hot path, never every 20 ms with a growing buffer. What is
still uncommitted at `close` is counted and said to be lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from blockwatch.probe.errors import SpoolError
from blockwatch.probe.observation import Measurement
from blockwatch.probe.spool import Spool
from blockwatch.probe.webbounds import bound_web_observation
from blockwatch.probe.webobservation import WebObservation
from blockwatch.probe.wire import encode_measurement, encode_web_observation

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 0.02
COMMIT_BATCH = 1000
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
# Held in memory while the spool cannot take them; more are counted and dropped.
# The round stops at the first failure, so only measurements already under way
# arrive after it.
MAX_HELD = 50_000


class SpoolSink:
    def __init__(self, spool: Spool, on_commit: Callable[[], None] | None = None,
                 on_error: Callable[[SpoolError], None] | None = None) -> None:
        self._spool = spool
        self._buffer: list[bytes] = []
        self._web_buffer: list[bytes] = []   # web observations: same commits, own kind
        self._timer: asyncio.TimerHandle | None = None
        self._on_commit = on_commit
        self._on_error = on_error
        self._retry_s = 0.0          # 0: commits are not failing
        self.error: SpoolError | None = None
        self.committed = 0           # rows of both kinds
        self.web_committed = 0
        self.dropped = 0             # never committed: over MAX_HELD while failing

    @property
    def held(self) -> int:
        """Measurements and web observations taken but not (yet) committed."""
        return len(self._buffer) + len(self._web_buffer)

    @property
    def failing(self) -> bool:
        return self.error is not None

    def __call__(self, measurement: Measurement) -> None:
        if self._full():
            return
        self._buffer.append(encode_measurement(measurement))
        self._added()

    def web(self, observation: WebObservation) -> None:
        """Take one web observation (bounded here, as runner.py bounds measurements)."""
        if self._full():
            return
        self._web_buffer.append(encode_web_observation(bound_web_observation(observation)))
        self._added()

    def _full(self) -> bool:
        if self.failing and self.held >= MAX_HELD:
            self.dropped += 1
            if self.dropped == 1:
                log.error("spool %s cannot take measurements (%s): %d held in memory; "
                          "more are DROPPED and counted", self._spool.path, self.error,
                          self.held)
            return True
        return False

    def _added(self) -> None:
        if self.failing:
            return      # the retry timer commits them
        if self.held >= COMMIT_BATCH:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(COMMIT_INTERVAL_S, self.flush)

    def flush(self, *, last: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.held:
            return
        if self.failing and not last and not self._spool.recover():
            # the space the spool freed is for delivery, not for new measurements
            self._retry_later()
            return
        payloads, self._buffer = self._buffer, []
        web, self._web_buffer = self._web_buffer, []
        try:
            self._spool.add(payloads, web)
        except SpoolError as exc:
            self._buffer[:0] = payloads
            self._web_buffer[:0] = web
            first = self.error is None
            self.error = exc
            self._retry_later()
            if first and self._on_error is not None:
                self._on_error(exc)
            return
        if self.error is not None:
            log.warning("spool %s takes measurements again: %d held ones committed",
                        self._spool.path, len(payloads) + len(web))
        self.error = None
        self._retry_s = 0.0
        self.committed += len(payloads) + len(web)
        self.web_committed += len(web)
        if self._on_commit is not None:
            self._on_commit()

    def _retry_later(self) -> None:
        self._retry_s = min(RETRY_MAX_S, self._retry_s * 2) if self._retry_s else RETRY_FIRST_S
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return      # closing outside the loop: no retry
        self._timer = loop.call_later(self._retry_s, self.flush)

    def close(self) -> None:
        """Final flush; raises the spool's error, saying how many measurements were
        lost, if some could not be stored."""
        self.flush(last=True)   # a last try, even with the spool's reserve given up
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.error is not None or self.dropped:
            lost = self.held + self.dropped
            self._buffer, self._web_buffer = [], []
            raise SpoolError(f"{lost} measurements were never committed to spool "
                             f"{self._spool.path} and are LOST: {self.error}")
