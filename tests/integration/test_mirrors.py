"""Mirror discovery end to end on a hand-built world (tests/integration/
mirror_world.py), through the CLIs as an analyst runs them (subprocesses: one
chDB path per process) and through a running collector's supervised task:
every true mirror proposed with its evidence and the unrelated site not,
reachability per country and intermediary equal to what was stored,
approvals counted by compliance from their day, rejections remembered."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.collector.discovery import DiscoveryState, discover
from blockwatch.collector.orders import parse_orders
from blockwatch.collector.registry import Principal, Registry
from blockwatch.contract.vocabulary import Purpose
from tests.integration import mirror_world as world
from tests.integration.analysis_world import store_rows
from tests.integration.collector_harness import chdb_dsn, running, settings_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BLOCKWATCH = shutil.which("blockwatch", path=str(BIN)) or "blockwatch"
COLLECTOR = shutil.which("blockwatch-collector", path=str(BIN)) or "blockwatch-collector"
DATABASE = "mirrorworld"
TODAY = world.TODAY.isoformat()

# What the collector's housekeeping and discovery do after a registry change:
# mirror the orders (approvals included), then one discovery pass.
_SYNC = f"""
import sys
from pathlib import Path
from blockwatch.collector.discovery import DiscoveryState, discover
from blockwatch.collector.registry import Registry
from blockwatch.collector.store import Store
registry = Registry(Path(sys.argv[2]) / "registry.db")
store = Store(sys.argv[1], {DATABASE!r})
orders = registry.orders()
store.replace_orders(orders)
state = DiscoveryState()
discover(store, orders, registry.rejections(), state)
print("\\n".join(d for d, _ in state.measure))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, env=_env(),
                          timeout=180)


@dataclasses.dataclass(frozen=True)
class World:
    dsn: str
    data_dir: Path

    def report(self, name: str, *args: str, fmt: str = "json") -> Any:
        got = run(BLOCKWATCH, "report", name, "--db", self.dsn, "--database", DATABASE,
                  "--format", fmt, *args)
        assert got.returncode == 0, got.stderr
        return json.loads(got.stdout) if fmt == "json" else got.stdout

    def targets(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(COLLECTOR, "targets", *args, "--data-dir", str(self.data_dir))

    def sync(self) -> list[str]:
        got = run(sys.executable, "-c", _SYNC, self.dsn, str(self.data_dir))
        assert got.returncode == 0, got.stderr
        return got.stdout.split()


@pytest.fixture
def mw(tmp_path: Path) -> World:
    dsn = f"chdb://{tmp_path / 'db'}"
    build = run(sys.executable, "-m", "tests.integration.mirror_world", dsn, DATABASE)
    assert build.returncode == 0, build.stderr
    orders_file = tmp_path / "orders.yaml"
    orders_file.write_text(world.ORDERS_YAML)
    w = World(dsn, tmp_path / "data")
    imported = w.targets("import", str(orders_file))
    assert imported.returncode == 0, imported.stderr
    return w


def _proposed(records: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["candidate"], r["sources"]): r for r in records}


def test_every_true_mirror_is_proposed_with_its_evidence_and_no_other(mw: World) -> None:
    records = mw.report("mirrors")
    proposed = _proposed(records)
    assert set(proposed) == set(world.EXPECTED)
    for key, words in world.EXPECTED.items():
        assert words in proposed[key]["evidence"], proposed[key]
        assert "[probe " in proposed[key]["evidence"]   # provenance
    shown = {r["candidate"] for r in records}
    assert not shown & set(world.NOT_PROPOSED)
    # first seen: the earliest observation that showed it
    assert proposed[("kat.sx", "certificate")]["first_seen"] == f"{world.BEFORE}T10:00:00Z"
    assert proposed[("canna-shop.net", "cohost")]["first_seen"] == f"{world.BEFORE}T00:01:00Z"
    # one row per order country and intermediary, with what probes measured there
    reach = {(r["candidate"], r["country"], r["intermediary"]):
             (r["resolved"], r["measured"], r["last_measured"], r["reachable"])
             for r in records}
    assert reach == {
        ("kat.sx", "IT", "cloudflare"): (1, 2, TODAY, "yes"),    # EDE 16, then resolved
        ("kat.sx", "IT", "isp"): (1, 2, TODAY, "no"),            # resolved, then stop page
        ("kickasstorrents.cc", "IT", "cloudflare"): (0, 0, None, "not measured"),
        ("kickasstorrents.cc", "IT", "isp"): (0, 0, None, "not measured"),
        ("canna-power.to", "DE", "isp"): (0, 0, None, "not measured"),
        ("canna-shop.net", "DE", "isp"): (0, 0, None, "not measured"),
    }
    assert {r["site"] for r in records if r["order"] == "it-kat"} == {"kat"}
    assert {r["order"] for r in mw.report("mirrors", "--order", "de-canna")} == {"de-canna"}


def test_json_csv_and_table_show_the_same_numbers(mw: World) -> None:
    records = mw.report("mirrors")
    rows = list(csv.DictReader(io.StringIO(mw.report("mirrors", fmt="csv"))))
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        assert row["candidate"] == record["candidate"]
        assert int(row["resolved"]) == record["resolved"]
        assert row["reachable"] == record["reachable"]
    table = mw.report("mirrors", fmt="table")
    for record in records:
        assert record["candidate"] in table and record["reachable"] in table


def test_the_html_report_lists_candidates_per_order(mw: World, tmp_path: Path) -> None:
    got = run(BLOCKWATCH, "report", "html", "--db", mw.dsn, "--database", DATABASE,
              "--out", str(tmp_path / "html"))
    assert got.returncode == 0, got.stderr
    page = (tmp_path / "html" / "index.html").read_text()
    section = page[page.index("Mirror candidates per order"):]
    assert "order it-kat: 2 candidates" in section and "order de-canna: 2 candidates" in section
    for candidate, _ in world.EXPECTED:
        assert f"<td>{candidate}</td>" in section
    assert "IT/isp: no" in section and "IT/cloudflare: yes" in section
    assert "kickasstorrents.org" not in page


def test_an_unknown_order_is_named(mw: World) -> None:
    got = run(BLOCKWATCH, "report", "mirrors", "--db", mw.dsn, "--database", DATABASE,
              "--order", "it-kaat")
    assert got.returncode == 2
    assert "it-kaat" in got.stderr and "it-kat" in got.stderr
    assert len(got.stderr.strip().splitlines()) == 1 and "Traceback" not in got.stderr


def test_approving_a_candidate_makes_compliance_count_it_from_that_day(mw: World) -> None:
    before = {r["domain"] for r in mw.report("compliance", "--by", "domain")}
    assert "kat.sx" not in before
    got = mw.targets("approve", "kat.sx", "--order", "it-kat", "--site", "kat")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == f"kat.sx: mirror of kat in order it-kat, added {TODAY}"
    measure = mw.sync()
    assert "kat.sx" not in measure                       # a target now, not a candidate
    assert "kat.sx" not in {r["candidate"] for r in mw.report("mirrors")}
    rows = [r for r in mw.report("compliance", "--by", "domain") if r["domain"] == "kat.sx"]
    # due the day it was added (no grace); only that day's measurements count
    assert {(r["intermediary"], r["kind"], r["added"], r["deadline"],
             r["blocked_since_deadline"], r["total_since_deadline"]) for r in rows} == {
        ("cloudflare", "mirror", TODAY, TODAY, 0, 1), ("isp", "mirror", TODAY, TODAY, 1, 1)}
    # leakage: today's resolution through Cloudflare, due today (no grace);
    # the days it was a candidate are not counted
    # (the layered report: a path reached the site at the site layer)
    leaks = [r for r in mw.report("leakage", "--by", "domain") if r["domain"] == "kat.sx"]
    assert [(r["resolver"], r["intermediary"], r["reached"], r["total"], r["due"])
            for r in leaks] == [("cloudflare", "yes", 1, 1, TODAY)], leaks
    # re-importing the order file keeps the approval
    orders_file = mw.data_dir.parent / "orders.yaml"
    assert mw.targets("import", str(orders_file)).returncode == 0
    listed = json.loads(mw.targets("list", "--format", "json").stdout)
    kat = listed["orders"][[o["order_id"] for o in listed["orders"]].index("it-kat")]
    assert {"domain": "kat.sx", "kind": "mirror", "added": TODAY} in kat["sites"][0]["domains"]


def test_a_rejection_is_remembered(mw: World) -> None:
    assert "kickasstorrents.cc" in mw.sync()
    got = mw.targets("reject", "KickassTorrents.CC", "--order", "it-kat")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "kickasstorrents.cc: rejected for order it-kat"
    measure = mw.sync()
    assert "kickasstorrents.cc" not in measure           # not measured again either
    assert "kickasstorrents.cc" not in {r["candidate"] for r in mw.report("mirrors")}
    assert ("kat.sx", "certificate") in _proposed(mw.report("mirrors"))


@pytest.mark.parametrize(("args", "words"), [
    (("approve", "kat.sx", "--order", "no-such", "--site", "kat"), "no order 'no-such'"),
    (("approve", "not a domain", "--order", "it-kat", "--site", "kat"), "is not a domain"),
    (("approve", "kickasstorrents.to", "--order", "it-kat", "--site", "kat"),
     "already in order 'it-kat'"),
    (("approve", "kat.sx", "--order", "it-kat", "--site", " "), "site name"),
    (("reject", "kat.sx", "--order", "no-such"), "no order 'no-such'"),
])
def test_bad_decisions_are_one_line_and_change_nothing(mw: World, args: tuple[str, ...],
                                                       words: str) -> None:
    before = mw.targets("list", "--format", "json").stdout
    got = mw.targets(*args)
    assert got.returncode == 2
    assert words in got.stderr and len(got.stderr.strip().splitlines()) == 1, got.stderr
    assert "Traceback" not in got.stderr
    assert mw.targets("list", "--format", "json").stdout == before


def test_the_collector_derives_candidates_and_assigns_them(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    dsn = chdb_dsn(tmp_path_factory)
    settings = settings_for(dsn, tmp_path)

    async def scenario() -> None:
        async with running(settings) as collector:
            collector.registry.import_orders(world.orders())
            db = ClickHouseDatabase(dsn, settings.database)
            store_rows(db, world.dns_rows())
            db.insert("web_observations", world.WEB_COLUMNS, world.web_rows())
            await collector.verdict_pass.run_once()
            assert await collector.tasks["discovery"].step_once()
            stored = {(str(r[0]), str(r[1])) for r in db.rows(
                "SELECT candidate, toString(source) FROM mirror_candidates FINAL")}
            assert stored == set(world.EXPECTED)
            probe = Principal("probe", "it-1", "IT", 3269, False)
            targets = {t.domain: t.purpose for t in collector.assignment_for(probe).targets}
            candidates = {d for d, p in targets.items() if p == Purpose.CANDIDATE}
            # bounded: 3 listed + 1 control name -> at most 1 candidate at a 0.2 share
            assert len(candidates) == 1
            assert candidates <= {d for d, _ in collector.discovery.measure}
            # the window moves with each check-in: every candidate is measured in
            # turn, the derived ones first
            order = sorted(candidates)
            for _ in range(2 * len(collector.discovery.measure) - 1):
                order += [t.domain for t in collector.assignment_for(probe).targets
                          if t.purpose == Purpose.CANDIDATE]
            assert set(order) == {d for d, _ in collector.discovery.measure}
            derived = {c for c, _ in world.EXPECTED}
            assert collector.discovery.derived == len(derived)
            assert set(order[0:2 * len(derived):2]) == derived     # every other turn
            # an approval reaches the order (and the assignment) on the next pass
            Registry(settings.registry_path).add_mirror("it-kat", "kat", "kat.sx", world.TODAY)
            assert await collector.tasks["discovery"].step_once()
            targets = {t.domain: t.purpose for t in collector.assignment_for(probe).targets}
            assert targets["kat.sx"] == Purpose.TARGET
            assert "kat.sx" not in {d for d, _ in collector.discovery.measure}
            db.close()

    asyncio.run(scenario())


def test_a_pass_reads_what_is_new_and_keeps_what_it_saw(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    db = world.build(chdb_dsn(tmp_path_factory), f"incremental{os.getpid()}")
    state = DiscoveryState()
    first = {(c.candidate, c.source) for c in discover(db, world.orders(), [], state)}
    assert first == set(world.EXPECTED)
    # the stored observations go (a TTL, a lost partition): what a pass saw stays
    # evidence; a new observation after the high-water mark is read
    db.command("TRUNCATE TABLE web_observations")
    row = world._web(world.CH_CONTROL, world.TODAY, "canna.to", status=302,
                     location="https://canna-new.net/")
    db.insert("web_observations", world.WEB_COLUMNS, [row])
    second = {(c.candidate, c.source) for c in discover(db, world.orders(), [], state)}
    assert second == first | {("canna-new.net", "redirect")}
    # a name never asked about before (newly listed) is read over its whole
    # history, older than the mark
    old = world._web(world.CH_CONTROL, world.BEFORE, "oldbay.to", status=301,
                     location="https://newbay.to/")
    db.insert("web_observations", world.WEB_COLUMNS, [old])
    more = parse_orders(world.ORDERS_YAML.replace(
        "        domains: [canna.to]", "        domains: [canna.to, oldbay.to]"), source="w.yaml")
    third = {(c.candidate, c.source) for c in discover(db, more, [], state)}
    assert third == second | {("newbay.to", "redirect")}
    db.close()
