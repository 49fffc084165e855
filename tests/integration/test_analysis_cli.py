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
import re
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
    assert bw("report", "timeline", *base, "--by", "domain").returncode == 2
    assert bw("report", "effectiveness", *base, "--by", "prefix").returncode == 2


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
    redone = sum(1 for r in world_rows() if r.day >= dt.date(2024, 8, 15))
    done = bw("reclassify", "--since", "2024-08-15", "--db", dsn, "--database", DATABASE)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(rf"reclassified {redone} measurements from 2024-08-15 in [0-9.]+ s "
                        r"\(classifier \S+\)\n", done.stdout), done.stdout
    as_json = bw("reclassify", "--since", "2024-08-15", "--db", dsn, "--database", DATABASE,
                 "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["measurements"] == redone


def test_reports_through_a_running_collector(tmp_path_factory: pytest.TempPathFactory,
                                             tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(settings_for(chdb_dsn(tmp_path_factory), tmp_path)) as collector:
            cli = Registry(collector.settings.registry_path)
            (tmp_path / "analyst").write_text(cli.add("analyst", "ana") + "\n")
            (tmp_path / "probe").write_text(cli.add("probe", "p1", country="IT"))
            cli.close()
            target = ["--collector", f"unix:{collector.settings.unix}"]

            async def run(*args: str, stdout_only: bool = False) -> tuple[int, str]:
                proc = await asyncio.create_subprocess_exec(
                    BLOCKWATCH, *args, env=_env(), stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE)
                out, err = await proc.communicate()
                return proc.returncode or 0, (out if stdout_only else out + err).decode()

            code, text = await run("report", "probes", *target, "--token-file",
                                   str(tmp_path / "analyst"), "--format", "json",
                                   stdout_only=True)
            assert code == 0, text
            assert json.loads(text) == []
            # the collector's status travels with the report: nothing stored yet
            code, text = await run("report", "effectiveness", *target, "--token-file",
                                   str(tmp_path / "analyst"))
            assert code == 0 and text.startswith("no measurements yet"), text
            code, text = await run("report", "probes", *target, "--token-file",
                                   str(tmp_path / "probe"))
            assert code == 1 and "PERMISSION_DENIED" in text
            code, _ = await run("report", "probes", *target)
            assert code == 2

    asyncio.run(scenario())


def _one_line_error(done: subprocess.CompletedProcess[str], code: int, *parts: str) -> str:
    """The user sees one line on stderr naming the problem, no traceback."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_country_names_and_unknown_filter_values(dsn: str) -> None:
    base = ["report", "effectiveness", "--db", dsn, "--database", DATABASE, *UNTIL,
            "--format", "json"]
    by_code = bw(*base, "--country", "IT")
    by_name = bw(*base, "--country", "Italy")
    assert by_code.returncode == by_name.returncode == 0, by_name.stderr
    assert json.loads(by_name.stdout) == json.loads(by_code.stdout) != []
    _one_line_error(bw(*base, "--country", "XX"), 2, "country",
                    "'XX' is not a country")
    # a real country without measurements is named, with the countries measured
    _one_line_error(bw(*base, "--country", "France"), 2, "'FR' is unknown",
                    "known: DE, IT, NL")
    _one_line_error(bw(*base, "--order", "it-2024-kta"), 2, "'it-2024-kta' is unknown",
                    "did you mean 'it-2024-kat'?", "it-2020-kat, it-2024-kat")
    _one_line_error(bw(*base, "--resolver", "cloudfare"), 2, "resolver: 'cloudfare'",
                    "did you mean 'cloudflare'?")
    _one_line_error(bw(*base, "--site", "piratebay"), 2, "site: 'piratebay' is unknown",
                    "known: kat, tpb")


def test_compliance_says_what_is_evidenced(dsn: str) -> None:
    common = ["report", "compliance", "--db", dsn, "--database", DATABASE, *UNTIL]
    table = bw(*common)
    assert table.returncode == 0, table.stderr
    old = next(x for x in table.stdout.splitlines() if "it-2020-kat" in x)
    assert "blocked when monitoring began" in old and "2024-08-13" in old
    assert "1656" not in old          # the deadline predates monitoring: no days late
    header = next(x for x in table.stdout.splitlines() if "status" in x)
    assert "monitoring since" in header and "days late" in header
    records = json.loads(bw(*common, "--format", "json").stdout)
    assert {(r["order"], r["intermediary"]): (r["status"], r["days_late"]) for r in records} == {
        ("it-2020-kat", "isp"): ("blocked when monitoring began", None),
        ("it-2024-kat", "cloudflare"): ("first seen blocked after 2 days of monitoring", 1),
        ("it-2024-kat", "isp"): ("blocked when monitoring began", 0)}
    rows = list(csv.DictReader(io.StringIO(bw(*common, "--format", "csv").stdout)))
    assert [r["days_late"] for r in rows] == ["", "1", "0"]
    mirrors = json.loads(bw(*common, "--by", "domain", "--format", "json",
                            "--order", "it-2024-kat", "--resolver", "cloudflare").stdout)
    assert {r["domain"]: (r["kind"], r["deadline"]) for r in mirrors} == {
        "kickasstorrents.cr": ("mirror", "2024-08-31"),
        "kickasstorrents.to": ("domain", "2024-08-14"),
        "thepiratebay.org": ("domain", "2024-08-14")}


def test_output_paths_refused_in_one_line(dsn: str, tmp_path: Path) -> None:
    base = ["--db", dsn, "--database", DATABASE, *UNTIL]
    a_file = tmp_path / "report.txt"
    a_file.write_text("keep me")
    _one_line_error(bw("report", "html", "--out", str(a_file), *base), 1,
                    "is not a directory")
    assert a_file.read_text() == "keep me"
    # a planted symlink in the output directory is refused, its target untouched
    out = tmp_path / "html"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (out / "index.html").symlink_to(victim)
    _one_line_error(bw("report", "html", "--out", str(out), *base), 1, "symbolic link")
    assert victim.read_text() == "precious"
    linked = tmp_path / "linked"
    linked.symlink_to(out)
    _one_line_error(bw("report", "html", "--out", str(linked), *base), 1, "symbolic link")
    _one_line_error(bw("report", "timeline", "--png", str(tmp_path / "nowhere" / "t.png"),
                       *base), 1, "--png", "does not exist")
    _one_line_error(bw("report", "timeline", "--png", str(tmp_path), *base), 1,
                    "is a directory")


def test_db_paths_that_hold_no_database_are_refused(dsn: str, tmp_path: Path) -> None:
    typo = tmp_path / "dbb"
    _one_line_error(bw("report", "probes", "--db", f"chdb://{typo}", "--database", DATABASE),
                    1, "no such directory")
    assert not typo.exists()                   # nothing created by the attempt
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(bw("reclassify", "--db", f"chdb://{empty}"), 1,
                    "holds no blockwatch database")
    assert list(empty.iterdir()) == []


def test_db_held_by_another_process_points_to_collector(dsn: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from blockwatch.analysis.database import ClickHouseDatabase\n"
         f"db = ClickHouseDatabase(sys.argv[1], {DATABASE!r}); db.rows('SELECT 1')\n"
         "print('ready', flush=True); time.sleep(120)", dsn],
        stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        line = _one_line_error(bw("report", "probes", "--db", dsn, "--database", DATABASE),
                               1, f"held by pid {holder.pid}", "--collector")
        assert "DB::Exception" not in line
    finally:
        holder.kill()
        holder.wait()


def test_version() -> None:
    done = bw("--version")
    assert done.returncode == 0 and re.fullmatch(r"blockwatch \d+\.\d+\.\d+\S*\n", done.stdout)


_SCHEMA_ONLY = f"""
from blockwatch.collector.orders import parse_orders
from tests.integration.analysis_world import (ORDERS_YAML, create_schema, store_orders,
                                              store_rows, world_rows)
import sys
db = create_schema(sys.argv[1], {DATABASE!r})
if sys.argv[2] == "stored":
    store_orders(db, parse_orders(ORDERS_YAML, source="w.yaml"))
    store_rows(db, world_rows())
"""


def test_empty_database_says_no_measurements_yet(tmp_path: Path) -> None:
    path = f"chdb://{tmp_path / 'db'}"
    subprocess.run([sys.executable, "-c", _SCHEMA_ONLY, path, "empty"], check=True,
                   env=_env(), timeout=120)
    done = bw("report", "effectiveness", "--db", path, "--database", DATABASE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no measurements yet") and "┃" not in done.stdout
    as_json = bw("report", "compliance", "--db", path, "--database", DATABASE, "--format",
                 "json", "--country", "Italy")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == []
    assert as_json.stderr.startswith("no measurements yet")


def test_pending_classification_is_said_and_waited_for(tmp_path: Path) -> None:
    path = f"chdb://{tmp_path / 'db'}"
    subprocess.run([sys.executable, "-c", _SCHEMA_ONLY, path, "stored"], check=True,
                   env=_env(), timeout=120)
    base = ["report", "effectiveness", "--db", path, "--database", DATABASE, *UNTIL]
    n = len(world_rows())
    table = bw(*base)
    assert table.returncode == 0, table.stderr
    assert f"{n} measurements await classification since 2024-08-13T10:00:30Z" in table.stdout
    as_json = bw(*base, "--format", "json")
    assert json.loads(as_json.stdout) == [] and "await classification" in as_json.stderr
    html = bw("report", "html", "--out", str(tmp_path / "html"), "--db", path, "--database",
              DATABASE)
    assert html.returncode == 0, html.stderr
    assert f"{n} measurements await classification" in \
        (tmp_path / "html" / "index.html").read_text()
    _one_line_error(bw(*base, "--wait", "--wait-timeout", "1"), 1, "gave up after 1 s",
                    f"{n} measurements still await classification")
    assert bw("reclassify", "--db", path, "--database", DATABASE).returncode == 0
    waited = bw(*base, "--wait", "--format", "json")
    assert waited.returncode == 0 and waited.stderr == ""
    assert {(r["country"], r["resolver"], r["site"]): r["blocked"]
            for r in json.loads(waited.stdout)}[("IT", "isp", "kat")] == 6


def test_choices_are_listed_and_completed() -> None:
    helped = bw("report", "--help")
    assert helped.returncode == 0
    text = re.sub(r"[\s│]+", "", helped.stdout)
    assert "effectiveness|compliance|leakage|spillover|timeline|probes|mirrors|html" in text
    assert "<country|asn|domain>" in text and "<table|json|csv>" in text
    assert "--ca-file" in helped.stdout
    env = {**_env(), "_BLOCKWATCH_COMPLETE": "complete_bash",
           "COMP_WORDS": "blockwatch report compliance --by ", "COMP_CWORD": "4"}
    done = subprocess.run([BLOCKWATCH], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.stdout.split() == ["country", "asn", "domain"]
