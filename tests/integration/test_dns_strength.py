"""Evidence strength at the DNS layer of site verdicts (issue 13): one DNS
timeout does not convict. A `drop` stays `blocked` in the site verdict only
when another measurement of the same (probe, resolver, name) dropped too, in
the same round or the round next to it, and none in its round was answered;
else the DNS layer is `suspect`. Real chDB, the production query against the
pure statement (strength.py through sitesql.oracle_site_rows)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.sitesql import oracle_site_rows
from blockwatch.analysis.storage import reclassify
from tests.integration.analysis_world import create_schema
from tests.integration.collector_harness import chdb_dsn
from tests.integration.test_site_verdicts import (
    CH,
    FPS,
    HFPS,
    IT,
    LONE,
    LONE_ADDR,
    T0,
    Probe,
    World,
    health,
    run_pass,
    sites,
)

PATHS = [("isp", "udp"), ("isp", "tcp"), ("cloudflare-doh", "doh")]
_DBS = itertools.count()


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


@pytest.fixture
def db(dsn: str) -> Iterator[ClickHouseDatabase]:
    handle = create_schema(dsn, f"strength{next(_DBS)}")
    yield handle
    handle.close()


def _round(w: World, round_id: str, at: dt.datetime,
           outcomes: dict[tuple[str, str], bool]) -> dict[tuple[str, str], str]:
    """One round of IT measuring LONE: each path times out (True) or answers;
    the control vantage resolves it. Returns the IT measurement ids per path."""
    health(w, IT, PATHS, round_id, at)
    health(w, CH, [("cloudflare", "udp")], f"c-{round_id}", at)
    w.dns(CH, "cloudflare", "udp", LONE, (LONE_ADDR,), round_id=f"c-{round_id}", at=at)
    return {path: w.dns(IT, *path, LONE, () if dropped else (LONE_ADDR,),
                        rcode=None if dropped else 0,
                        failure="timeout" if dropped else "none", round_id=round_id, at=at)
            for path, dropped in outcomes.items()}


def _dns(db: ClickHouseDatabase, mid: str) -> tuple[Any, ...]:
    raw = db.rows("SELECT toString(verdict), method FROM verdicts FINAL "
                  "WHERE measurement_id = {m:UUID}", {"m": mid})[0]
    s = sites(db)[mid]
    return raw, (s["dns_verdict"], s["dns_method"], s["verdict"], s["layer"], s["method"])


def test_a_single_dns_timeout_does_not_convict(db: ClickHouseDatabase) -> None:
    w = World()
    ids = _round(w, "r1", T0, {("cloudflare-doh", "doh"): True})
    w.store(db)
    run_pass(db)
    # the DNS rules' own verdict is kept; the site verdict's DNS layer is suspect
    assert _dns(db, ids[("cloudflare-doh", "doh")]) == (
        ("blocked", "drop"), ("suspect", "drop", "suspect", "dns", "drop"))
    daily = db.rows("SELECT toString(verdict), sum(measurements) FROM layers_daily "
                    "WHERE layer = 'dns' AND domain = {d:String} AND NOT probe_control "
                    "GROUP BY verdict", {"d": LONE})
    assert daily == [("suspect", 1)]


def test_the_same_resolver_dropping_on_another_transport_in_the_round_convicts(
        db: ClickHouseDatabase) -> None:
    w = World()
    ids = _round(w, "r1", T0, {("isp", "udp"): True, ("isp", "tcp"): True})
    w.store(db)
    run_pass(db)
    for path in PATHS[:2]:
        assert _dns(db, ids[path])[1] == ("blocked", "drop", "blocked", "dns", "drop")


def test_an_answer_from_the_same_resolver_in_the_round_makes_a_drop_transient(
        db: ClickHouseDatabase) -> None:
    w = World()
    ids = _round(w, "r1", T0, {("isp", "udp"): True, ("isp", "tcp"): False})
    # the round before dropped too: still not a block while the resolver answered
    _round(w, "r0", T0 - dt.timedelta(hours=1), {("isp", "udp"): True})
    w.store(db)
    run_pass(db)
    assert _dns(db, ids[("isp", "udp")])[1][:3] == ("suspect", "drop", "suspect")


def test_the_pass_sees_the_previous_round_and_reclassify_the_next(
        db: ClickHouseDatabase) -> None:
    w = World()
    first = _round(w, "r1", T0, {("cloudflare-doh", "doh"): True})
    w.store(db)
    run_pass(db)
    assert _dns(db, first[("cloudflare-doh", "doh")])[1][0] == "suspect"
    # two weeks later (the lab's rounds), the same drop: corroborated by r1 at once
    second = _round(w, "r2", T0 + dt.timedelta(days=14), {("cloudflare-doh", "doh"): True})
    w.store(db)
    run_pass(db)
    assert _dns(db, second[("cloudflare-doh", "doh")])[1][0] == "blocked"
    assert _dns(db, first[("cloudflare-doh", "doh")])[1][0] == "suspect"   # written before r2
    reclassify(db, FPS, http_fingerprints=HFPS, since=T0.date())
    assert _dns(db, first[("cloudflare-doh", "doh")])[1][0] == "blocked"
    assert _dns(db, second[("cloudflare-doh", "doh")])[1][0] == "blocked"


def test_rounds_further_apart_than_the_span_are_not_adjacent(db: ClickHouseDatabase) -> None:
    w = World()
    first = _round(w, "r1", T0, {("cloudflare-doh", "doh"): True})
    later = _round(w, "r2", T0 + dt.timedelta(days=60), {("cloudflare-doh", "doh"): True})
    w.store(db)
    run_pass(db)
    for ids in (first, later):
        assert _dns(db, ids[("cloudflare-doh", "doh")])[1][0] == "suspect"


@pytest.mark.parametrize("seed", [4, 5])
def test_production_equals_strength_on_generated_drops(db: ClickHouseDatabase,
                                                       seed: int) -> None:
    rng = random.Random(seed)
    w = World()
    probes = [IT, Probe("it-2", "IT", 30722)]
    names = [LONE, "drop.example", "other.example"]
    for rnd in range(4):
        at = T0 + dt.timedelta(hours=rnd, minutes=rng.randrange(0, 20))
        health(w, CH, [("cloudflare", "udp")], f"c{rnd}", at)
        for name in names:
            w.dns(CH, "cloudflare", "udp", name, (LONE_ADDR,), round_id=f"c{rnd}", at=at)
        for probe in probes:
            round_id = f"{probe.name}-r{rnd}"
            health(w, probe, PATHS, round_id, at)
            for name in names:
                for path in rng.sample(PATHS, rng.choice([1, 2, 3])):
                    dropped = rng.random() < 0.5
                    w.dns(probe, *path, name, () if dropped else (LONE_ADDR,),
                          rcode=None if dropped else 0,
                          failure="timeout" if dropped else "none", round_id=round_id,
                          at=at)
    w.store(db)
    run_pass(db)
    got = sites(db)
    want = oracle_site_rows(db, "1", {})
    assert set(got) == set(want)
    for mid, row in want.items():
        assert {k: got[mid][k] for k in row if k != "measurement_id"} == {
            k: v for k, v in row.items() if k != "measurement_id"}, mid
    drops = {(r["dns_verdict"], r["verdict"]) for r in got.values() if r["dns_method"] == "drop"}
    assert drops == {("blocked", "blocked"), ("suspect", "suspect")}   # both reached
