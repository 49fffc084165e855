"""The spool keeps every measurement until its batch is acknowledged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from blockwatch.probe.errors import SpoolFullError
from blockwatch.probe.spool import Spool


def _payloads(n: int, size: int = 100, start: int = 0) -> list[bytes]:
    return [i.to_bytes(4, "big") * (size // 4) for i in range(start, start + n)]


def test_batches_leave_only_when_acknowledged(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        spool.add(_payloads(10))
        first = spool.next_batch(4)
        assert first is not None and first.size == 4
        second = spool.next_batch(4, exclude={first.batch_id})
        assert second is not None and second.payloads == _payloads(4, start=4)
        assert spool.acknowledge(first.batch_id) == 4
        assert spool.pending() == 6


def test_batch_ids_survive_a_restart(tmp_path: Path) -> None:
    """A batch that was on the wire when the probe died goes out again under its id,
    so the collector can tell a retry from new data."""
    with Spool(tmp_path / "s.db") as spool:
        spool.add(_payloads(5))
        batch = spool.next_batch(3)
    assert batch is not None
    with Spool(tmp_path / "s.db") as spool:
        again = spool.next_batch(3)
        assert again == batch
        rest = spool.next_batch(3, exclude={batch.batch_id})
        assert rest is not None and rest.size == 2


def test_rejected_batches_are_kept_aside(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        spool.add(_payloads(3))
        batch = spool.next_batch(10)
        assert batch is not None
        assert spool.reject(batch.batch_id, "responses[0].rcode out of range") == 3
        stats = spool.stats()
        assert (stats.pending, stats.rejected) == (0, 3)
        assert spool.next_batch(10) is None


def test_bounded_spool_drops_oldest_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                           ) -> None:
    with Spool(tmp_path / "s.db", max_bytes=1000, on_full="drop-oldest") as spool:
        spool.add(_payloads(8))  # 800 bytes
        with caplog.at_level(logging.ERROR):
            spool.add(_payloads(5, start=8))  # needs 300 more: the 3 oldest go
        assert spool.stats().dropped == 3
        assert "SPOOL FULL: dropped 3 oldest measurements" in caplog.text
        batch = spool.next_batch(100)
        assert batch is not None and batch.payloads == _payloads(10, start=3)


def test_default_bound_never_drops_it_pauses(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db", max_bytes=500) as spool:
        spool.add(_payloads(8))  # a round already measured is always kept
        assert spool.pending() == 8 and spool.stats().dropped == 0
        with pytest.raises(SpoolFullError, match="no new round"):
            spool.check_room()
        batch = spool.next_batch(8)
        assert batch is not None
        spool.acknowledge(batch.batch_id)
        spool.check_room()


def test_byte_count_is_rebuilt_on_open(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        spool.add(_payloads(4, size=256))
    with Spool(tmp_path / "s.db") as spool:
        assert spool.stats().bytes == 1024


def test_batches_are_bounded_by_bytes_and_a_big_row_goes_alone(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        spool.add(_payloads(3, size=100) + _payloads(1, size=1000, start=3)
                  + _payloads(2, size=100, start=4))
        first = spool.next_batch(100, max_bytes=250)
        assert first is not None and first.size == 2
        second = spool.next_batch(100, {first.batch_id}, max_bytes=250)
        assert second is not None and second.size == 1
        third = spool.next_batch(100, {first.batch_id, second.batch_id}, max_bytes=250)
        assert third is not None and len(third.payloads[0]) == 1000  # over the bound, alone


def test_a_released_batch_is_formed_again_smaller_under_new_ids(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        spool.add(_payloads(10))
        big = spool.next_batch(10)
        assert big is not None
        assert spool.next_batch(4) == big          # formed batches keep id and content
        assert spool.release(big.batch_id) == 10
        small = spool.next_batch(4)
        assert small is not None and small.size == 4 and small.batch_id != big.batch_id
        assert small.payloads == _payloads(4)
