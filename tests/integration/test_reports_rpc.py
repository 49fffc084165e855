"""The Reports RPC on a real grpc.aio collector: analyst tokens read reports
(the same rows as a direct query), probe tokens are refused, analysts cannot
submit; verdicts come from the collector's own background pass."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import grpc
import pytest

from blockwatch.analysis.errors import RemoteError, UsageError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.remote import Endpoint, fetch_answer, fetch_report, reclassify_remote
from blockwatch.analysis.reports import build_report
from blockwatch.collector.orders import parse_orders
from blockwatch.collector.registry import Registry
from blockwatch.collector.verdictpass import StoreDatabase
from blockwatch.v1 import probe_pb2 as probe_pb
from blockwatch.v1 import probe_pb2_grpc as probe_grpc
from tests.integration.analysis_world import ORDERS_YAML, world_rows
from tests.integration.collector_harness import chdb_dsn, running, settings_for

UNTIL = Filters(until=dt.date(2024, 8, 20))


def test_reports_rpc_roles_rows_and_reclassify(tmp_path_factory: pytest.TempPathFactory,
                                               tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(chdb_dsn(tmp_path_factory), tmp_path)) as collector:
            store = collector.writer.store
            db = StoreDatabase(store)
            values = [r.values() for r in world_rows()]
            columns = list(values[0])
            await collector.writer.call(
                db.insert, "measurements", columns, [[v[c] for c in columns] for v in values])
            await collector.writer.call(store.replace_orders,
                                        parse_orders(ORDERS_YAML, source="w.yaml"))

            cli = Registry(collector.settings.registry_path)
            analyst = cli.add("analyst", "ana")
            probe = cli.add("probe", "p1", country="IT")
            cli.close()
            tcp = f"127.0.0.1:{collector.tcp_ports[0]}"
            unix = f"unix:{collector.settings.unix}"

            # Stored, not classified yet (the pass waits its settle time): the
            # answer says how many and since when.
            partial = await fetch_answer(Endpoint(unix, analyst), "effectiveness", UNTIL)
            assert partial.status.pending == len(values)
            assert partial.status.pending_since == dt.datetime(2024, 8, 13, 10, 0, 30,
                                                               tzinfo=dt.UTC)

            async def settle_soon() -> int:
                await asyncio.sleep(1.0)
                collector.verdict_pass.settle_s = 0.0
                return await collector.verdict_pass.run_once()

            # --wait: the collector answers once the pass has classified them
            waited, classified = await asyncio.gather(
                fetch_answer(Endpoint(unix, analyst), "effectiveness", UNTIL, wait_s=60.0),
                settle_soon())
            assert classified == len(values)
            assert waited.status.pending == 0 and waited.status.verdicts == len(values)

            remote = await fetch_report(Endpoint(unix, analyst), "effectiveness", UNTIL)
            direct = await collector.writer.call(build_report, "effectiveness", UNTIL, db.rows)
            assert remote == direct == waited.report
            assert {(r["country"], r["resolver"], r["site"]): (r["blocked"], r["total"])
                    for r in remote.records()}[("IT", "isp", "kat")] == (6, 6)
            for name in ("compliance", "leakage", "spillover", "timeline", "probes"):
                assert await fetch_report(Endpoint(tcp, analyst), name, UNTIL) == \
                    await collector.writer.call(build_report, name, UNTIL, db.rows), name

            with pytest.raises(RemoteError) as denied:
                await fetch_report(Endpoint(tcp, probe), "effectiveness", UNTIL)
            assert denied.value.code == "PERMISSION_DENIED"
            with pytest.raises(RemoteError) as unknown:
                await fetch_report(Endpoint(tcp, "bw_nope"), "effectiveness", UNTIL)
            assert unknown.value.code == "UNAUTHENTICATED"
            with pytest.raises(UsageError):
                await fetch_report(Endpoint(tcp, analyst), "nope", UNTIL)
            with pytest.raises(UsageError, match="'cloudfare' is unknown"):
                await fetch_report(Endpoint(tcp, analyst), "effectiveness",
                                   Filters(resolver="cloudfare"))

            # An analyst token may not check in or submit as a probe.
            async with grpc.aio.insecure_channel(tcp) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await probe_grpc.ProbeServiceStub(channel).CheckIn(
                        probe_pb.CheckInRequest(probe_name="ana"),
                        metadata=(("authorization", f"Bearer {analyst}"),), timeout=5)
                assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED

            redone = await reclassify_remote(Endpoint(tcp, analyst), "2024-08-16")
            assert redone["measurements"] == sum(1 for r in world_rows()
                                                 if r.day >= dt.date(2024, 8, 16))
            assert await fetch_report(Endpoint(tcp, analyst), "effectiveness", UNTIL) == direct
            with pytest.raises(RemoteError):
                await reclassify_remote(Endpoint(tcp, probe), "")

    asyncio.run(scenario())
