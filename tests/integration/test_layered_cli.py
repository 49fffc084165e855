"""`--layer` as an analyst uses it: `blockwatch report` in a subprocess on a
chDB path holding a known world of site verdicts (layers_world.py), and the
Reports RPC of a real collector carrying the layer."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import grpc
import grpc.aio
import pytest

from blockwatch.analysis.errors import UsageError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.remote import Endpoint, fetch_report
from blockwatch.analysis.reports import build_report
from blockwatch.collector.orders import parse_orders
from blockwatch.collector.registry import Registry
from blockwatch.collector.verdictpass import StoreDatabase
from blockwatch.v1 import reports_pb2 as reports_pb
from blockwatch.v1 import reports_pb2_grpc as reports_grpc
from tests.integration.analysis_world import ORDERS_YAML
from tests.integration.collector_harness import running, settings_for
from tests.integration.layers_world import layered_rows
from tests.integration.test_analysis_cli import _env, bw

DATABASE = "layersworld"
_BUILD = f"""
from tests.integration.layers_world import build_layered_world
import sys
build_layered_world(sys.argv[1], {DATABASE!r})
"""
REPORTS = ("effectiveness", "leakage", "spillover", "timeline")


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = f"chdb://{tmp_path_factory.mktemp('layers') / 'db'}"
    subprocess.run([sys.executable, "-c", _BUILD, path], check=True, env=_env(), timeout=120)
    return path


def _table_rows(text: str) -> list[list[str]]:
    """The data rows of a rich table, cells stripped ('-' is None)."""
    return [[c.strip() for c in line.split("│")[1:-1]]
            for line in text.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("layer", ["dns", "web", "site"])
def test_each_report_at_each_layer_same_numbers_in_table_json_csv(dsn: str,
                                                                   layer: str) -> None:
    for name in REPORTS:
        common = ["report", name, "--db", dsn, "--database", DATABASE, "--layer", layer]
        table, as_json, as_csv = (bw(*common, "--format", f) for f in ("table", "json", "csv"))
        for done in (table, as_json, as_csv):
            assert done.returncode == 0, (name, done.stderr)
            assert done.stderr == "", (name, done.stderr)   # classified: no pending note
        records = json.loads(as_json.stdout)
        rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
        assert records, (name, layer)   # every report has rows in this world
        assert [{k: "" if v is None else str(v) for k, v in r.items()} for r in records] \
            == rows, name
        assert [[("-" if v is None else str(v)) for v in r.values()] for r in records] \
            == _table_rows(table.stdout), name
        assert "layer" in records[0] and "blocked_by" in records[0]
    # the layer changes the answer: Cloudflare's edge 451 is not a DNS block
    eff = json.loads(bw("report", "effectiveness", "--db", dsn, "--database", DATABASE,
                        "--layer", layer, "--country", "Italy", "--resolver", "cloudflare",
                        "--site", "kat", "--format", "json").stdout)
    assert [(r["blocked"], r["total"], r["method"], r["blocked_by"]) for r in eff] == (
        [(0, 3, None, None)] if layer == "dns" else [(2, 3, "http-451", "edge cloudflare")])


def test_default_layer_is_site(dsn: str) -> None:
    base = ["report", "leakage", "--db", dsn, "--database", DATABASE, "--format", "json"]
    assert bw(*base).stdout == bw(*base, "--layer", "site").stdout


def test_bad_layer_is_one_line_and_exit_2(dsn: str) -> None:
    done = bw("report", "effectiveness", "--db", dsn, "--database", DATABASE, "--layer", "ip")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "usage error: layer: 'ip': expected one of dns, web, site\n"
    probes = bw("report", "probes", "--db", dsn, "--database", DATABASE, "--layer", "dns")
    assert probes.returncode == 2
    assert probes.stderr == "usage error: layer: does not apply to the probes report\n"
    assert "dns|web|site" in bw("report", "--help").stdout


def test_html_report_shows_the_layers_remedies_and_legend(dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "html"
    done = bw("report", "html", "--out", str(out), "--db", dsn, "--database", DATABASE)
    assert done.returncode == 0, done.stderr
    page = (out / "index.html").read_text("utf-8")
    assert "Blocking by layer" in page and "resolver (DNS) &rarr; network (IP, TCP)" in page
    # the Milan remedy: DNS unchanged, the edge refuses; per layer side by side
    assert ('<td class="l-none">0.0 %</td><td class="l-http">66.7 % http/http-451 by edge '
            'cloudflare</td><td class="l-http">66.7 % http/http-451 by edge cloudflare</td>'
            ) in page
    assert "<td>edge http-451 (cloudflare), DNS unchanged</td>" in page
    assert "<td>network ip-drop (AS3269), DNS unchanged</td>" in page
    assert "<td>resolver sinkhole (isp)</td>" in page
    for chip in ("DNS", "IP", "TCP", "TLS", "HTTP"):
        assert f"<b>{chip}</b>:" in page
    # --layer dns: the layered tables count the DNS layer, the side-by-side stays
    dns = tmp_path / "dns"
    done = bw("report", "html", "--out", str(dns), "--db", dsn, "--database", DATABASE,
              "--layer", "dns")
    assert done.returncode == 0, done.stderr
    page = (dns / "index.html").read_text("utf-8")
    assert "Share blocked per country, resolver and site (DNS layer)" in page
    assert "<td>edge http-451 (cloudflare), DNS unchanged</td>" in page


def test_the_reports_rpc_carries_the_layer(tmp_path_factory: pytest.TempPathFactory,
                                           tmp_path: Path) -> None:
    """The collector answers the layer asked for (a layer lost on the wire would
    answer the site layer for every request)."""
    dsn = f"chdb://{tmp_path_factory.mktemp('rpclayers') / 'db'}"

    async def scenario() -> None:
        async with running(settings_for(dsn, tmp_path)) as collector:
            store = collector.writer.store
            db = StoreDatabase(store)
            await collector.writer.call(store.replace_orders,
                                        parse_orders(ORDERS_YAML, source="w.yaml"))
            values = [r.values(n) for n, r in enumerate(layered_rows(), 1)]
            columns = list(values[0])
            await collector.writer.call(db.insert, "site_verdicts", columns,
                                        [[v[c] for c in columns] for v in values])
            cli = Registry(collector.settings.registry_path)
            analyst = cli.add("analyst", "ana")
            cli.close()
            endpoint = Endpoint(f"unix:{collector.settings.unix}", analyst)
            answers = {}
            for layer in ("dns", "web", "site"):
                for name in REPORTS:
                    f = Filters(layer=layer)
                    remote = await fetch_report(endpoint, name, f)
                    assert remote == await collector.writer.call(build_report, name, f,
                                                                 db.rows), (name, layer)
                    answers[name, layer] = remote
            for name in REPORTS:
                assert answers[name, "dns"] != answers[name, "site"], name
            # a client that skips the checks: the collector refuses the layer itself
            async with grpc.aio.insecure_channel(endpoint.address) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await reports_grpc.ReportServiceStub(channel).Report(
                        reports_pb.ReportRequest(name="effectiveness",
                                                 filters=reports_pb.ReportFilters(layer="tls")),
                        metadata=(("authorization", f"Bearer {analyst}"),), timeout=30)
                assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert info.value.details() == "layer: 'tls': expected one of dns, web, site"
            with pytest.raises(UsageError, match="layer: does not apply to the probes report"):
                await fetch_report(endpoint, "probes", Filters(layer="web"))
    asyncio.run(scenario())
