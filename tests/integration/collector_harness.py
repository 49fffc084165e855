"""Shared helpers for the collector's integration tests (not a test module).

chDB allows one database path per process, so every in-process test uses the
same path, derived from the session's base temp dir (two fixtures computing it
independently agree), and isolates itself with its own ClickHouse database
and registry directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from blockwatch.collector.server import Collector
from blockwatch.collector.settings import AssignmentSettings, ResolverEntry, Settings
from blockwatch.probe.config import CollectorConfig
from blockwatch.probe.ids import new_measurement_id
from blockwatch.probe.observation import (
    ExtendedError,
    Failure,
    Measurement,
    Purpose,
    Record,
    ResolverRef,
    Response,
    Transport,
)
from blockwatch.probe.spool import Spool
from blockwatch.probe.upload import Uploader, UploadStats

_DATABASES = itertools.count()


def chdb_dsn(factory: pytest.TempPathFactory) -> str:
    return f"chdb://{factory.getbasetemp() / 'chdb'}"


def settings_for(dsn: str, tmp: Path, **overrides: Any) -> Settings:
    database = f"t{time.monotonic_ns()}_{next(_DATABASES)}"
    base = Settings(
        data_dir=tmp / "collector", db=dsn, database=database,
        listen=("127.0.0.1:0",), unix=str(tmp / "collector.sock"), grace_s=5.0,
        assignment=AssignmentSettings(
            qtypes=(1, 28), interval_s=600, jitter_s=30,
            resolvers=(ResolverEntry(name="cloudflare", address="1.1.1.1"),
                       ResolverEntry(name="isp", address="192.0.2.53", countries=["IT"]))),
    )
    return dataclasses.replace(base, **overrides)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Collector]:
    collector = Collector(settings)
    await collector.start()
    try:
        yield collector
    finally:
        await collector.stop(grace=2.0)


def measurement(i: int = 0, *, domain: str = "thepiratebay.org", responses: int = 1,
                failure: Failure = Failure.NONE, ede: tuple[ExtendedError, ...] = (),
                started_at_us: int | None = None) -> Measurement:
    resp = [Response(arrival_us=1200 + k * 100, rcode=0, flags=0x8180,
                     answers=(Record(domain, 1, 300, f"203.0.113.{(i + k) % 250}"),),
                     edns=True, extended_errors=ede, size=64, nsid=b"res1")
            for k in range(responses)]
    return Measurement(
        measurement_id=new_measurement_id(), round_id="r1",
        started_at_us=started_at_us or time.time_ns() // 1000, duration_us=1500,
        domain=domain, qtype=1, qclass=1, purpose=Purpose.TARGET,
        resolver=ResolverRef("cloudflare", "1.1.1.1", 53, Transport.UDP),
        failure=failure, failure_text="" if failure is Failure.NONE else "timed out",
        responses=resp)


def uploader(spool: Spool, address: str, token: str, *, name: str = "probe-it",
             batch_size: int = 100, timeout_s: float = 10.0) -> Uploader:
    config = CollectorConfig(addresses=[address], tls=False, batch_size=batch_size,
                             window=4, timeout_s=timeout_s)
    return Uploader(spool, config, token, name)


async def drain(up: Uploader, give_up_after_s: float = 20.0) -> UploadStats:
    return await up.run(asyncio.Event(), drain=True, give_up_after_s=give_up_after_s)


async def count(collector: Collector, where: str = "1") -> int:
    store = collector.writer.store
    return await collector.writer.call(store.count, where)
