"""Exactly once in reports: a measurement stored twice (the same measurement under
a second batch id, as after a lost WAL tail or a replay that escaped the batch
ledger) is counted once by every report, before and after a reclassify.

The copies go through the real Submit path of a real grpc.aio collector into
chDB; the background pass classifies between and after the two uploads."""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from pathlib import Path

import pytest

from blockwatch.analysis.filters import Filters
from blockwatch.analysis.render import to_json
from blockwatch.analysis.reports import Report, build_report
from blockwatch.collector.orders import parse_orders
from blockwatch.collector.registry import Registry
from blockwatch.collector.server import Collector
from blockwatch.collector.verdictpass import StoreDatabase
from blockwatch.probe.observation import Failure
from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_measurement
from tests.integration.collector_harness import (
    chdb_dsn,
    drain,
    measurement,
    running,
    settings_for,
    uploader,
)
from tests.reliability.conftest import Figures

ORDERS = resources.files("blockwatch.collector").joinpath("examples", "milan-cloudflare.yaml")
DOMAINS = ("thepiratebay.org", "limetorrents.pro", "kickasstorrents.to")


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


def _payloads() -> list[bytes]:
    """Four measurements per ordered domain through cloudflare, one a timeout."""
    out = []
    for d, domain in enumerate(DOMAINS):
        for i in range(4):
            m = (measurement(10 * d + i, domain=domain, failure=Failure.TIMEOUT, responses=0)
                 if i == 3 else measurement(10 * d + i, domain=domain))
            out.append(encode_measurement(m))
    return out


async def _reports(collector: Collector) -> dict[str, Report]:
    db = StoreDatabase(collector.writer.store)
    return {name: await collector.writer.call(build_report, name, Filters(), db.rows)
            for name in ("effectiveness", "compliance", "probes")}


def _counted(reports: dict[str, Report]) -> dict[str, int]:
    """How many measurements each report counts, and the same read from JSON."""
    eff = reports["effectiveness"].records()
    from_json = json.loads(to_json(reports["effectiveness"]))
    compliance = [r for r in reports["compliance"].records() if r["intermediary"] == "cloudflare"]
    return {
        "effectiveness": sum(int(str(r["total"])) + int(str(r["inconclusive"])) for r in eff),
        "effectiveness_conclusive": sum(int(str(r["total"])) for r in eff),
        "effectiveness_json": sum(int(r["total"]) + int(r["inconclusive"]) for r in from_json),
        "compliance_conclusive": sum(int(str(r["total_since_deadline"])) for r in compliance),
        "probes": sum(int(str(r["measurements"])) for r in reports["probes"].records()),
    }


async def _verdicts(collector: Collector) -> tuple[int, int]:
    rows = await collector.writer.call(
        collector.writer.store.rows,
        "SELECT count(), uniqExact(measurement_id) FROM verdicts FINAL")
    return int(str(rows[0][0])), int(str(rows[0][1]))


def test_a_measurement_stored_twice_is_counted_once(
        dsn: str, tmp_path: Path, figures: Figures) -> None:
    payloads = _payloads()
    n = len(payloads)
    counted: dict[str, dict[str, int]] = {}

    async def scenario() -> None:
        settings = settings_for(dsn, tmp_path)
        async with running(settings) as collector:
            collector.verdict_pass.settle_s = 0.0
            registry = Registry(settings.registry_path)
            token = registry.add("probe", "dup-it", country="IT", asn=3269)
            registry.import_orders(parse_orders(ORDERS.read_text("utf-8"),
                                                source="milan-cloudflare.yaml"))
            registry.close()
            await collector._mirror_orders()
            address = f"unix:{settings.unix}"

            first = Spool(tmp_path / "first.db")
            first.add(payloads)
            assert (await drain(uploader(first, address, token, name="dup-it"))
                    ).measurements_acked == n
            # the background pass may have judged them first (it wakes when
            # what was stored is due): either way, all of them once
            await collector.verdict_pass.run_once()
            assert await _verdicts(collector) == (n, n)
            counted["once"] = _counted(await _reports(collector))

            # The same measurements again under a new batch id: the ledger cannot
            # know them, so they are stored a second time.
            second = Spool(tmp_path / "second.db")
            second.add(payloads)
            stats = await drain(uploader(second, address, token, name="dup-it"))
            assert (stats.measurements_acked, stats.duplicates) == (n, 0)
            stored = collector.metrics.registry.get_sample_value(
                "blockwatch_measurements_total", {"result": "stored"})
            assert stored == 2 * n
            await collector.verdict_pass.run_once()
            counted["stored twice"] = _counted(await _reports(collector))
            assert await _verdicts(collector) == (n, n)

            await collector.verdict_pass.reclassify(None)
            counted["after reclassify"] = _counted(await _reports(collector))
            assert await _verdicts(collector) == (n, n)

    asyncio.run(scenario())
    once = counted["once"]
    assert once["effectiveness"] == once["probes"] == once["effectiveness_json"] == n
    assert once["compliance_conclusive"] == once["effectiveness_conclusive"]
    for stage in ("stored twice", "after reclassify"):
        assert counted[stage] == once, (stage, counted)
    figures.record("duplicates", measurements=n, stored_twice=n,
                   reports=counted)
