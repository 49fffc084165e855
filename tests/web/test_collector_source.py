"""The web view while a collector serves its embedded chDB: every number and
every piece of evidence comes through the collector's Reports RPC (Report and
the additive Evidence method) with the analyst's own token; the collector
refuses probe tokens and malformed evidence requests."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import grpc
import httpx
import pytest

from blockwatch.analysis.filters import Filters
from blockwatch.analysis.reports import build_report
from blockwatch.analysis.webview.app import create_app
from blockwatch.analysis.webview.evidence import evidence
from blockwatch.analysis.webview.source import RemoteSource
from blockwatch.collector.orders import parse_orders
from blockwatch.collector.registry import Registry
from blockwatch.collector.verdictpass import StoreDatabase
from blockwatch.v1 import reports_pb2 as pb
from blockwatch.v1 import reports_pb2_grpc as pb_grpc
from tests.integration.analysis_world import ORDERS_YAML, world_rows
from tests.integration.collector_harness import chdb_dsn, running, settings_for

UNTIL = Filters(until=dt.date(2024, 8, 20))


def test_web_view_through_a_running_collector(tmp_path_factory: pytest.TempPathFactory,
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
            collector.verdict_pass.settle_s = 0.0
            assert await collector.verdict_pass.run_once() == len(values)
            reg = Registry(collector.settings.registry_path)
            analyst, probe = reg.add("analyst", "ana"), reg.add("probe", "p1", country="IT")
            reg.close()
            unix = f"unix:{collector.settings.unix}"

            # the RPC itself: analyst only, bounded, parameters validated
            async with grpc.aio.insecure_channel(unix) as channel:
                stub = pb_grpc.ReportServiceStub(channel)
                for token, code in ((probe, grpc.StatusCode.PERMISSION_DENIED),
                                    ("bw_nope", grpc.StatusCode.UNAUTHENTICATED)):
                    with pytest.raises(grpc.aio.AioRpcError) as denied:
                        await stub.Evidence(pb.EvidenceRequest(kind="orders"),
                                            metadata=(("authorization", f"Bearer {token}"),))
                    assert denied.value.code() == code
                for kind, params in (("nope", {}), ("measurements", {"limit": "100000"}),
                                     ("measurement", {"id": "1 OR 1=1"}),
                                     ("measurements", {"order": "x'; DROP TABLE verdicts"})):
                    with pytest.raises(grpc.aio.AioRpcError) as bad:
                        await stub.Evidence(pb.EvidenceRequest(kind=kind, params=params),
                                            metadata=(("authorization", f"Bearer {analyst}"),))
                    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, kind

            app = create_app(RemoteSource(unix))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://web") as web:
                assert (await web.get("/api/v1/reports/compliance",
                                      headers={"Authorization": f"Bearer {probe}"})
                        ).status_code == 403
                auth = {"Authorization": f"Bearer {analyst}"}
                for name in ("compliance", "leakage", "spillover", "effectiveness"):
                    got = await web.get(f"/api/v1/reports/{name}",
                                        params={"until": "2024-08-20"}, headers=auth)
                    direct = await collector.writer.call(build_report, name, UNTIL, db.rows)
                    assert got.json()["rows"] == direct.records(), name
                blocked = {"order": "it-2024-kat", "resolver": "isp", "verdict": "blocked",
                           "scope": "due"}
                listed = await web.get("/api/v1/evidence/measurements", params=blocked,
                                       headers=auth)
                expected = await collector.writer.call(evidence, "measurements", blocked,
                                                       db.rows)
                assert listed.json()["rows"] == expected.records() and expected.rows
                page = await web.get(f"/measurements/{expected.rows[0][0]}", headers=auth)
                assert page.status_code == 200 and "blocked" in page.text
                order = await web.get("/orders/it-2024-kat", headers=auth)
                assert order.status_code == 200 and "marker-deadline" in order.text
                # the collector's analyst gate is full: a 503 that says so, not a 502
                collector.gate.max_running = collector.gate.max_waiting = 0
                busy = await web.get("/api/v1/evidence/orders", headers=auth)
                assert busy.status_code == 503, busy.text
                assert busy.json()["error"].startswith("the collector is busy, try again")
                page = await web.get("/orders/it-2024-kat", headers=auth)
                assert page.status_code == 503 and "try again" in page.text

    asyncio.run(scenario())
