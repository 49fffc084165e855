"""The collector names each refused batch by the contract's RejectionCode label
in `blockwatch_rejections_total{reason}` (what an operator's alert matches),
and the probe acts on the same code: a batch over the collector's limit is
re-formed smaller, an invalid one set aside."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from blockwatch.collector.validation import Limits
from blockwatch.contract.vocabulary import RejectionCode
from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_measurement
from tests.integration.collector_harness import (
    chdb_dsn,
    count,
    drain,
    measurement,
    running,
    settings_for,
    uploader,
)


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def test_rejections_are_counted_by_the_contracts_labels(dsn: str, tmp_path: Path) -> None:
    settings = settings_for(dsn, tmp_path, limits=Limits(max_measurements=2))
    bad = dataclasses.replace(measurement(1), qtype=70_000)  # no such DNS type

    async def scenario() -> dict[str, float]:
        async with running(settings) as collector:
            token = collector.registry.add("probe", "p1", country="IT")
            with Spool(tmp_path / "spool.db") as spool:
                spool.add([encode_measurement(m) for m in
                           (measurement(0), measurement(2), measurement(3), bad)])
                stats = await drain(uploader(spool, f"unix:{settings.unix}", token,
                                             batch_size=4))
                assert spool.pending() == 0
            assert stats.batches_too_large >= 1 and stats.batches_rejected >= 1
            assert await count(collector) >= 2
            registry = collector.metrics.registry
            return {s.labels["reason"]: s.value
                    for metric in registry.collect() if metric.name == "blockwatch_rejections"
                    for s in metric.samples if s.name == "blockwatch_rejections_total"}

    reasons = asyncio.run(scenario())
    # the labels operators' alerts already match, and the contract's
    assert set(reasons) == {"too_large", "invalid"}
    assert set(reasons) == {RejectionCode.TOO_LARGE.label, RejectionCode.INVALID.label}
    assert reasons["too_large"] >= 1 and reasons["invalid"] >= 1
