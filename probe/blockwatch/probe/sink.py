"""Group commit: measurements emitted in one event-loop tick go to the spool in one
transaction, so the spool keeps up with thousands per second."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from blockwatch.probe.errors import SpoolError
from blockwatch.probe.observation import Measurement
from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_measurement


class SpoolSink:
    def __init__(self, spool: Spool, on_commit: Callable[[], None] | None = None) -> None:
        self._spool = spool
        self._buffer: list[bytes] = []
        self._scheduled = False
        self._on_commit = on_commit
        self.error: BaseException | None = None
        self.committed = 0

    def __call__(self, measurement: Measurement) -> None:
        self._buffer.append(encode_measurement(measurement))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
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
