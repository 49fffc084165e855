"""Group commit: measurements go to the spool in one transaction every few
milliseconds rather than one each, so the spool keeps up with thousands per second.

A measurement counts as recorded once committed; a crash inside the window
loses only measurements that were never reported anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from blockwatch.probe.errors import SpoolError
from blockwatch.probe.observation import Measurement
from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_measurement

COMMIT_INTERVAL_S = 0.02
COMMIT_BATCH = 1000


class SpoolSink:
    def __init__(self, spool: Spool, on_commit: Callable[[], None] | None = None) -> None:
        self._spool = spool
        self._buffer: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._on_commit = on_commit
        self.error: SpoolError | None = None
        self.committed = 0

    def __call__(self, measurement: Measurement) -> None:
        self._buffer.append(encode_measurement(measurement))
        if len(self._buffer) >= COMMIT_BATCH:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(COMMIT_INTERVAL_S, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer:
            return
        payloads, self._buffer = self._buffer, []
        try:
            self._spool.add(payloads)
        except SpoolError as exc:
            # Keep the measurements in memory and let the round's end raise: the
            # agent must not report them as recorded.
            self._buffer[:0] = payloads
            self.error = exc
            return
        self.error = None
        self.committed += len(payloads)
        if self._on_commit is not None:
            self._on_commit()

    def close(self) -> None:
        """Final flush; raises the spool's error if measurements could not be stored."""
        self.flush()
        if self.error is not None:
            raise self.error
