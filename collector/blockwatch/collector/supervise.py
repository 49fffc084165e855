"""Supervision of the collector's long-lived background work (classification,
housekeeping): a task may fail, it may never die silently.

A supervised job is a step run every `interval_s`. A step that raises anything
(not only the collector's own errors: an injected ValueError once stopped
classification for good while acks and health stayed green) is logged with its
traceback, counted in `blockwatch_task_failures_total{task}`, turns the job's
health service NOT_SERVING, and is retried after an exponential backoff. The
first step that succeeds again sets the service back to SERVING and the
`blockwatch_task_last_success_seconds{task}` gauge.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from blockwatch.collector.metrics import Metrics

log = logging.getLogger(__name__)

HealthSetter = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay after `failures` consecutive failures: doubling, capped."""

    first_s: float = 1.0
    max_s: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.max_s, self.first_s * 2.0 ** max(0, failures - 1))


class Supervised:
    """One supervised periodic job; `run()` until cancelled."""

    def __init__(self, name: str, step: Callable[[], Awaitable[object]], *,
                 interval_s: Callable[[], float], metrics: Metrics,
                 set_health: HealthSetter | None = None,
                 backoff: Backoff | None = None) -> None:
        self.name = name
        self._step = step
        self._interval_s = interval_s
        self._metrics = metrics
        self._set_health = set_health
        self._backoff = backoff or Backoff()
        self.failures = 0          # consecutive; 0 while healthy
        self.last_error = ""

    @property
    def healthy(self) -> bool:
        return self.failures == 0

    async def run(self) -> None:
        self._metrics.task_failures.labels(self.name)   # the series exists at 0
        while True:
            delay = (self._interval_s() if self.failures == 0
                     else self._backoff.delay(self.failures))
            await asyncio.sleep(delay)
            await self.step_once()

    async def step_once(self) -> bool:
        """Run one step under supervision; True when it succeeded."""
        try:
            await self._step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:   # any failure: logged, counted, retried
            self.failures += 1
            self.last_error = repr(exc)
            self._metrics.task_failures.labels(self.name).inc()
            log.error("event=task_failed task=%s failures=%d retry_in_s=%.1f error=%r",
                      self.name, self.failures, self._backoff.delay(self.failures), exc,
                      exc_info=exc)
            if self.failures == 1:
                await self._health(False)
            return False
        self._metrics.task_last_success.labels(self.name).set(time.time())
        if self.failures:
            log.warning("event=task_recovered task=%s after_failures=%d", self.name,
                        self.failures)
            self.failures = 0
            self.last_error = ""
            await self._health(True)
        return True

    async def _health(self, serving: bool) -> None:
        if self._set_health is None:
            return
        try:
            await self._set_health(serving)
        except Exception:   # health must never take the job down
            log.exception("event=health_update_failed task=%s", self.name)
