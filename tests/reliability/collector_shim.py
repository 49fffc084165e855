"""`blockwatch-collector` for crash tests: the real CLI, with one test-only seam
patched in from outside the production code.

With BLOCKWATCH_TEST_INSERT_LOG set, every group insert that returned appends
one line `<probe>:<batch_id> ...` to that file *after* ClickHouse has the rows
and *before* the writer hands the outcome back (so before any ack can be
sent); with BLOCKWATCH_TEST_ACK_DELAY_S it then sleeps that long. A test that
kills the process as soon as the file grows hits the window between the
database insert and the ack deterministically.

Run as `python -m tests.reliability.collector_shim serve ...` from the repo root.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from blockwatch.collector.columns import Batch, Origin
from blockwatch.collector.store import InsertResult, Store


def _slow_acks(insert: Callable[..., InsertResult], log_path: str, delay_s: float
               ) -> Callable[..., InsertResult]:
    @functools.wraps(insert)
    def wrapper(self: Store, group: Sequence[tuple[Batch, Origin]], *args: Any) -> InsertResult:
        result = insert(self, group, *args)
        keys = " ".join(f"{o.probe_name}:{b.batch_id}" for b, o in group)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(keys + "\n")
            log.flush()
        if delay_s:
            time.sleep(delay_s)
        return result
    return wrapper


def main() -> None:
    log_path = os.environ.get("BLOCKWATCH_TEST_INSERT_LOG", "")
    if log_path:
        delay = float(os.environ.get("BLOCKWATCH_TEST_ACK_DELAY_S", "0"))
        Store.insert = _slow_acks(Store.insert, log_path, delay)  # type: ignore[method-assign]
    from blockwatch.collector.cli import app

    app(prog_name="blockwatch-collector")


if __name__ == "__main__":
    main()
