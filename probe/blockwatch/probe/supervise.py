"""Long-lived tasks of the probe never die silently: a failure is logged loudly,
counted (and kept in the spool, where `blockwatch-probe check` shows it), and the
task restarts with exponential backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from blockwatch.probe.errors import ProbeError

log = logging.getLogger(__name__)


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
    delay = first_delay_s
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
                      count, type(exc).__name__, exc, delay,
                      exc_info=not isinstance(exc, ProbeError))
            if on_failure is not None:
                with contextlib.suppress(ProbeError):
                    on_failure(name, health.last_error[name])
        if stop.is_set():
            return
        if time.monotonic() - began > 10 * max_delay_s:
            delay = first_delay_s      # it ran well for a long time: start over
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(max_delay_s, delay * 2)
