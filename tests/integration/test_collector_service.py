"""The collector as a service: authentication, check-in with imported orders,
graceful shutdown with batches in flight, restart and resume, schema."""

from __future__ import annotations

import asyncio
import datetime as dt
from importlib import resources
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from blockwatch.collector.columns import Batch, Origin, storage_table
from blockwatch.collector.orders import parse_orders
from blockwatch.collector.registry import Registry
from blockwatch.collector.servicer import batch_columns
from blockwatch.collector.store import _arrow_table, dedup_token
from blockwatch.collector.validation import Limits
from blockwatch.probe.spool import Spool
from blockwatch.probe.wire import encode_columnar_submit_request, encode_measurement
from blockwatch.schema.migrate import load_migrations
from blockwatch.v1 import probe_pb2 as pb
from blockwatch.v1 import probe_pb2_grpc as pb_grpc
from tests.integration.collector_harness import (
    chdb_dsn,
    count,
    drain,
    measurement,
    running,
    settings_for,
    uploader,
)

EXAMPLES = resources.files("blockwatch.collector").joinpath("examples")


@pytest.fixture
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


async def _checkin(address: str, token: str | None) -> pb.CheckInResponse:
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
    async with grpc.aio.insecure_channel(address) as channel:
        reply: pb.CheckInResponse = await pb_grpc.ProbeServiceStub(channel).CheckIn(
            pb.CheckInRequest(probe_name="p"), metadata=metadata, timeout=5)
        return reply


async def _code(coro: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await coro  # type: ignore[misc]
    return info.value.code()


def test_tokens_missing_wrong_revoked_and_roles(dsn: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            address = f"127.0.0.1:{collector.tcp_ports[0]}"
            cli = Registry(collector.settings.registry_path)   # the CLI's own connection
            token = cli.add("probe", "p1", country="IT", asn=3269)
            analyst = cli.add("analyst", "ana")
            assert (await _checkin(address, token)).country == "IT"
            assert await _code(_checkin(address, None)) == grpc.StatusCode.UNAUTHENTICATED
            assert await _code(_checkin(address, "bw_wrong")) == grpc.StatusCode.UNAUTHENTICATED
            assert await _code(_checkin(address, analyst)) == grpc.StatusCode.PERMISSION_DENIED
            cli.revoke("probe", "p1")
            assert await _code(_checkin(address, token)) == grpc.StatusCode.UNAUTHENTICATED
            # Rotating issues a new token; the old one stays dead.
            fresh = cli.add("probe", "p1", country="IT", rotate=True)
            assert (await _checkin(address, fresh)).probe_name == "p1"
            assert await _code(_checkin(address, token)) == grpc.StatusCode.UNAUTHENTICATED
            # Health is open (load balancers carry no token).
            async with grpc.aio.insecure_channel(address) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                for service in ("", "blockwatch.v1.ProbeService", "blockwatch.v1.ReportService"):
                    health = await stub.Check(health_pb2.HealthCheckRequest(service=service))
                    assert health.status == health_pb2.HealthCheckResponse.SERVING, service
            cli.close()

    asyncio.run(scenario())


def test_checkin_assignment_from_imported_example_orders(dsn: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            address = f"unix:{collector.settings.unix}"
            cli = Registry(collector.settings.registry_path)
            token = cli.add("probe", "it-1", country="IT")
            de_token = cli.add("probe", "de-1", country="DE", control=True)
            for name in ("milan-cloudflare.yaml", "agcom-isp-list.csv"):
                orders = parse_orders(EXAMPLES.joinpath(name).read_text("utf-8"), source=name)
                assert cli.import_orders(orders).changed
                assert not cli.import_orders(orders).changed   # idempotent
            reply = await _checkin(address, token)
            targets = {t.domain: (t.site, t.purpose) for t in reply.assignment.targets}
            assert targets["kickasstorrents.cr"] == ("kickasstorrents", pb.PURPOSE_TARGET)
            assert targets["example.com"] == ("", pb.PURPOSE_CONTROL)
            assert len(targets) == 11
            assert [r.name for r in reply.assignment.resolvers] == ["cloudflare", "isp"]
            assert list(reply.assignment.qtypes) == [1, 28]
            de = await _checkin(address, de_token)
            assert [r.name for r in de.assignment.resolvers] == ["cloudflare"]
            assert de.assignment.version != reply.assignment.version
            # Orders are mirrored into ClickHouse for report joins.
            await collector._mirror_orders()
            store = collector.writer.store
            rows = await collector.writer.call(store.rows, (
                "SELECT order_id, deadline, countIf(kind = 'mirror') FROM orders "
                "JOIN order_domains USING order_id GROUP BY order_id, deadline "
                "ORDER BY order_id"))
            assert rows == [("agcom-2024-dda-101", dt.date(2024, 3, 6), 1),
                            ("it-milan-2024-cloudflare", dt.date(2024, 8, 14), 1)]
            cli.close()

    asyncio.run(scenario())


def test_graceful_shutdown_with_batches_in_flight_then_resume(dsn: str, tmp_path: Path) -> None:
    settings = settings_for(dsn, tmp_path)
    total = 3000

    async def first_run() -> int:
        async with running(settings) as collector:
            token = collector.registry.add("probe", "p1", country="IT")
            (tmp_path / "token").write_text(token)
            with Spool(tmp_path / "spool.db") as spool:
                spool.add([encode_measurement(measurement(i)) for i in range(total)])
                up = uploader(spool, f"unix:{settings.unix}", token, batch_size=50)
                acked = asyncio.Event()
                up._on_ack = lambda _n: acked.set()
                task = asyncio.create_task(up.run(asyncio.Event()))
                await acked.wait()
                await collector.stop(grace=5.0)   # SIGTERM does exactly this
                # let the uploader see the stream end (UNAVAILABLE) before stopping it
                for _ in range(200):
                    if up.stats.reconnects or spool.pending() == 0:
                        break
                    await asyncio.sleep(0.01)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                pending = spool.pending()
        assert up.stats.reconnects >= 1 or pending == 0   # the end of the stream was UNAVAILABLE
        return total - pending

    acked = asyncio.run(first_run())
    assert 0 < acked < total   # the stop really came with batches still to send

    async def second_run() -> None:
        async with running(settings) as collector:
            # Every acked batch survived the shutdown.
            assert await count(collector) == acked
            token = (tmp_path / "token").read_text()
            with Spool(tmp_path / "spool.db") as spool:
                stats = await drain(uploader(spool, f"unix:{settings.unix}", token,
                                             batch_size=50))
                assert spool.pending() == 0
            assert stats.measurements_acked == total - acked
            assert await count(collector) == total
            raw = await collector.writer.call(collector.writer.store.rows,
                                              "SELECT count(), uniqExact(measurement_id) "
                                              "FROM measurements")
            assert raw == [(total, total)]
            probes = collector.registry.probes()
            assert probes[0].name == "p1"

    asyncio.run(second_run())


def test_insert_deduplication_token_really_deduplicates_in_chdb(dsn: str,
                                                               tmp_path: Path) -> None:
    """Bypass the batch ledger: the token alone must keep a replayed insert out."""
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            store = collector.writer.store
            wire = pb.SubmitRequest.FromString(encode_columnar_submit_request(
                "b1", [encode_measurement(measurement(i)) for i in range(20)])).batch
            columns = batch_columns(wire, Limits())
            group = [(Batch("b1", storage_table(columns)), Origin("p1", "IT", 0, False))]
            table = _arrow_table(group, 1_700_000_000_000_000)
            token = dedup_token([("p1", "b1")])
            assert token == "p1:b1"

            def insert_twice() -> None:
                for _ in range(2):
                    store._client.insert_arrow("measurements", table,
                                               settings={"insert_deduplication_token": token})

            await collector.writer.call(insert_twice)
            raw = await collector.writer.call(store.rows, "SELECT count() FROM measurements")
            assert raw == [(20,)]

    asyncio.run(scenario())


def test_migrations_are_recorded_and_idempotent(dsn: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            store = collector.writer.store
            assert await collector.writer.call(store.migrate) == []
            rows = await collector.writer.call(
                store.rows, "SELECT version FROM schema_migrations FINAL ORDER BY version")
            assert [r[0] for r in rows] == [m.version for m in load_migrations()]

    asyncio.run(scenario())


def test_cluster_ddl_parses_in_the_engine(dsn: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            store = collector.writer.store
            statements = [s for m in load_migrations() for s in m.statements("bw_cluster")]
            assert any("ENGINE = Distributed(bw_cluster, currentDatabase(), measurements_local, "
                       "cityHash64(probe_name, batch_id))" in s for s in statements)
            assert any("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/"
                       "measurements_local', '{replica}')" in s for s in statements)
            for statement in statements:
                # DDL runs on every node; a backfill copy once, through the
                # Distributed tables (test_collector_schema.py)
                backfill = statement.startswith("INSERT INTO ")
                assert ("ON CLUSTER bw_cluster" in statement) != backfill
                formatted = await collector.writer.call(
                    store.rows, "SELECT formatQuery({q:String})", {"q": statement})
                assert ("ON CLUSTER bw_cluster" in str(formatted[0][0])) != backfill
                ast = await collector.writer.call(store.rows, f"EXPLAIN AST {statement}")
                assert ast

    asyncio.run(scenario())
