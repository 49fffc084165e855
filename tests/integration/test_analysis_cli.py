"""`blockwatch` as an analyst runs it (subprocesses): formats carry the same
numbers, exit codes 0/1/2, PNG and HTML outputs, reclassify, and reports
through a running collector with an analyst token file.

Each subprocess opens its own chDB path (one path per process), so the world
is built by a subprocess too.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blockwatch.collector.registry import Registry
from tests.integration.analysis_world import world_rows
from tests.integration.collector_harness import chdb_dsn, running, settings_for

ROOT = Path(__file__).resolve().parents[2]
BLOCKWATCH = shutil.which("blockwatch", path=str(Path(sys.executable).parent)) or "blockwatch"
DATABASE = "cliworld"
UNTIL = ["--until", "2024-08-20"]

_BUILD = f"""
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.storage import reclassify
from tests.integration.analysis_world import build_world
import sys
db = build_world(sys.argv[1], {DATABASE!r})
reclassify(db, load_fingerprints())
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def bw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BLOCKWATCH, *args], capture_output=True, text=True, check=False,
                          env=_env(), timeout=120)


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = f"chdb://{tmp_path_factory.mktemp('cli') / 'db'}"
    subprocess.run([sys.executable, "-c", _BUILD, path], check=True, env=_env(), timeout=120)
    return path


def test_json_csv_and_table_show_the_same_numbers(dsn: str) -> None:
    common = ["report", "effectiveness", "--db", dsn, "--database", DATABASE, *UNTIL]
    as_json = bw(*common, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    records = json.loads(as_json.stdout)
    as_csv = bw(*common, "--format", "csv")
    table = bw(*common)
    assert as_csv.returncode == table.returncode == 0
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == list(records[0])   # same keys, same order
    for record, row in zip(records, rows, strict=True):
        assert {k: "" if v is None else str(v) for k, v in record.items()} == row
    isp_kat = next(r for r in records if (r["country"], r["resolver"], r["site"]) ==
                   ("IT", "isp", "kat"))
    assert (isp_kat["blocked"], isp_kat["total"], isp_kat["share_blocked_pct"]) == (6, 6, 100.0)
    line = next(x for x in table.stdout.splitlines() if "isp" in x and "kat" in x)
    assert "100.0" in line and "sinkhole" in line
    cf_tpb = next(x for x in table.stdout.splitlines() if "IT" in x and "cloudflare" in x
                  and "tpb" in x)
    assert "33.3" in cf_tpb


def test_exit_codes(dsn: str) -> None:
    base = ["--db", dsn, "--database", DATABASE]
    assert bw("report", "nope", *base).returncode == 2
    assert bw("report", "effectiveness", *base, "--format", "xml").returncode == 2
    assert bw("report", "effectiveness").returncode == 2          # no --db, no --collector
    assert bw("report", "probes", *base, "--site", "kat").returncode == 2
    assert bw("report", "timeline", *base, "--since", "August").returncode == 2
    assert bw("report", "effectiveness", *base, "--png", "x.png").returncode == 2
    missing = bw("report", "effectiveness", "--db", dsn, "--database", "nothing_here")
    assert missing.returncode == 1 and missing.stderr.startswith("error:")
    assert bw("report", "compliance", *base, *UNTIL, "--by", "asn").returncode == 0


def test_timeline_png_and_html_report(dsn: str, tmp_path: Path) -> None:
    png = tmp_path / "timeline.png"
    done = bw("report", "timeline", "--db", dsn, "--database", DATABASE, *UNTIL,
              "--png", str(png))
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "html"
    done = bw("report", "html", "--out", str(out), "--db", dsn, "--database", DATABASE, *UNTIL)
    assert done.returncode == 0, done.stderr
    page = (out / "index.html").read_text("utf-8")
    assert "<svg" in page and "data:image/png;base64," in page
    assert 'data-country="IT"' in page and "Italy: 57.9% blocked (11/19)" in page
    assert "Germany: 66.7% blocked (2/3)" in page   # effectiveness rows summed
    assert "src='http" not in page and 'href="http' not in page   # self-contained
    for title in ("Share blocked per country", "Compliance", "Vantage points"):
        assert title in page


def test_reclassify_command(dsn: str) -> None:
    done = bw("reclassify", "--since", "2024-08-15", "--db", dsn, "--database", DATABASE)
    assert done.returncode == 0, done.stderr
    redone = sum(1 for r in world_rows() if r.day >= dt.date(2024, 8, 15))
    assert json.loads(done.stdout)["measurements"] == redone


def test_reports_through_a_running_collector(tmp_path_factory: pytest.TempPathFactory,
                                             tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(chdb_dsn(tmp_path_factory), tmp_path)) as collector:
            cli = Registry(collector.settings.registry_path)
            (tmp_path / "analyst").write_text(cli.add("analyst", "ana") + "\n")
            (tmp_path / "probe").write_text(cli.add("probe", "p1", country="IT"))
            cli.close()
            target = ["--collector", f"unix:{collector.settings.unix}"]

            async def run(*args: str) -> tuple[int, str]:
                proc = await asyncio.create_subprocess_exec(
                    BLOCKWATCH, *args, env=_env(), stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE)
                out, err = await proc.communicate()
                return proc.returncode or 0, (out + err).decode()

            code, text = await run("report", "probes", *target, "--token-file",
                                   str(tmp_path / "analyst"), "--format", "json")
            assert code == 0, text
            assert json.loads(text) == []
            code, text = await run("report", "probes", *target, "--token-file",
                                   str(tmp_path / "probe"))
            assert code == 1 and "PERMISSION_DENIED" in text
            code, _ = await run("report", "probes", *target)
            assert code == 2

    asyncio.run(scenario())
