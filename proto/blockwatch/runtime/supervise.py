"""Long-lived tasks never die silently: a failure is logged loudly, counted,
and the task runs again after an exponential backoff.

Two shapes, one rule (`Backoff`):
- `supervise()`: a task that runs until stopped (the probe's uploader) is
  restarted whenever it fails or returns; failures are counted in `TaskHealth`
  and handed to `on_failure` (the probe keeps them in its spool, where
  `blockwatch-probe check` shows them).
- `Supervised`: a step run every `interval_s` (the collector's classification,
  housekeeping, discovery). A step that raises anything (not only our own
  errors: an injected ValueError once stopped classification for good while
  acks and health stayed green) is logged with its traceback, counted through
  a `TaskMeter` (the collector's Metrics: `blockwatch_task_failures_total{task}`,
  `blockwatch_task_last_success_seconds{task}`), turns the job's health
  NOT_SERVING, and is retried after the backoff; the first step that succeeds
  again sets health back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from blockwatch.contract.errors import BlockwatchError

log = logging.getLogger(__name__)

HealthSetter = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay after `failures` consecutive failures: doubling, capped."""

    first_s: float = 1.0
    max_s: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.max_s, self.first_s * 2.0 ** max(0, failures - 1))


@dataclass(slots=True)
class TaskHealth:
    """Failures per supervised task, for logs, status and tests."""

    failures: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)

    def failed(self, name: str, error: BaseException) -> int:
        self.failures[name] = self.failures.get(name, 0) + 1
        self.last_error[name] = f"{type(error).__name__}: {error}"
        return self.failures[name]


async def supervise(name: str, run: Callable[[], Awaitable[object]], stop: asyncio.Event,
                    health: TaskHealth, *, on_failure: Callable[[str, str], None] | None = None,
                    first_delay_s: float = 1.0, max_delay_s: float = 60.0) -> None:
    """Run `run()` until `stop` is set, restarting it whenever it fails or returns."""
    backoff = Backoff(first_delay_s, max_delay_s)
    restarts = 1
    while not stop.is_set():
        began = time.monotonic()
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:   # any failure restarts the task
            count = health.failed(name, exc)
            # an error of ours is a sentence; anything else is a bug: keep the trace
            log.error("TASK %s FAILED (%d so far): %s: %s; restarting in %.0fs", name,
                      count, type(exc).__name__, exc, backoff.delay(restarts),
                      exc_info=not isinstance(exc, BlockwatchError))
            if on_failure is not None:
                with contextlib.suppress(BlockwatchError):
                    on_failure(name, health.last_error[name])
        if stop.is_set():
            return
        if time.monotonic() - began > 10 * max_delay_s:
            restarts = 1      # it ran well for a long time: start over
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff.delay(restarts))
        restarts += 1


class TaskMeter(Protocol):
    """Where a periodic job's steps are counted (the collector's Metrics)."""

    def task_started(self, name: str) -> None: ...

    def task_failed(self, name: str) -> None: ...

    def task_succeeded(self, name: str) -> None: ...


class Supervised:
    """One supervised periodic job; `run()` until cancelled."""

    def __init__(self, name: str, step: Callable[[], Awaitable[object]], *,
                 interval_s: Callable[[], float], metrics: TaskMeter,
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
        self._metrics.task_started(self.name)
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
            self._metrics.task_failed(self.name)
            log.error("event=task_failed task=%s failures=%d retry_in_s=%.1f error=%r",
                      self.name, self.failures, self._backoff.delay(self.failures), exc,
                      exc_info=exc)
            if self.failures == 1:
                await self._health(False)
            return False
        self._metrics.task_succeeded(self.name)
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
