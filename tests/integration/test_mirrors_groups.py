"""`report mirrors` with intermediary groups (issue 13): reachability is read
through every resolver of the group and its edge, and a group whose name is
no resolver's is measured, not "not measured". Real chDB, the report's own
query over rows as the collector's rollups hold them."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from blockwatch.analysis import mirrors
from blockwatch.analysis.database import ClickHouseDatabase
from tests.integration.analysis_world import create_schema
from tests.integration.collector_harness import chdb_dsn

DAY1, DAY2 = dt.date(2024, 9, 3), dt.date(2024, 9, 17)
AT = dt.datetime(2024, 9, 3, 10, tzinfo=dt.UTC)
MIRROR = "kickasstorrents.cr"
_DBS = itertools.count()


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


@pytest.fixture
def db(dsn: str) -> Iterator[ClickHouseDatabase]:
    handle = create_schema(dsn, f"mirrorgroups{next(_DBS)}")
    yield handle
    handle.close()


def _world(db: ClickHouseDatabase) -> None:
    """Milan's order with Cloudflare as a group named "Cloudflare Inc" (its UDP
    and DoT resolvers and its edge) and the ISP as a plain name."""
    db.insert("orders", ["order_id", "authority", "title", "issued", "deadline", "countries",
                         "intermediaries", "source"],
              [["it-milan", "Tribunale di Milano", "Milan", DAY1, DAY1, ["IT"],
                ["cloudflare", "cloudflare-dot", "isp"], "orders.yaml"]])
    db.insert("order_domains", ["order_id", "site", "domain", "kind", "added"],
              [["it-milan", "kat", "kickasstorrents.to", "domain", DAY1]])
    db.insert("order_intermediaries", ["order_id", "intermediary", "resolvers", "networks"],
              [["it-milan", "Cloudflare Inc", ["cloudflare", "cloudflare-dot"],
                ["Cloudflare", "AS13335"]],
               ["it-milan", "isp", ["isp"], []]])
    db.insert("mirror_candidates", ["order_id", "site", "candidate", "source", "listed_domain",
                                    "evidence", "probe_name", "observation_id", "first_seen",
                                    "derived_at"],
              [["it-milan", "kat", MIRROR, "certificate", "kickasstorrents.to",
                "names kickasstorrents.cr", "ch-1", "o1", AT, AT]])


def _dns(db: ClickHouseDatabase, rows: list[tuple[dt.date, str, str, int]]) -> None:
    db.insert("verdicts_daily", ["day", "probe_country", "probe_asn", "probe_control",
                                 "resolver_name", "domain", "purpose", "verdict", "method",
                                 "measurements", "first_at", "last_at"],
              [[day, "IT", 3269, False, resolver, MIRROR, "candidate", verdict,
                "refused" if verdict == "blocked" else "", n, AT, AT]
               for day, resolver, verdict, n in rows])


def _edge_refuses(db: ClickHouseDatabase, day: dt.date) -> None:
    db.insert("layers_daily", ["layer", "day", "probe_country", "probe_asn", "probe_control",
                               "resolver_name", "transport", "family", "domain", "purpose",
                               "verdict", "site_layer", "method", "party", "operator",
                               "measurements", "first_at", "last_at"],
              [["web", day, "IT", 3269, False, r, t, 4, MIRROR, "candidate", "blocked",
                "http", "http-451", "edge", "cloudflare", 1, AT, AT]
               for r, t in (("cloudflare", "udp"), ("cloudflare-dot", "dot"))])


def _report(db: ClickHouseDatabase) -> dict[str, tuple[Any, ...]]:
    params = {"order": "", "site": "", "country": "", "resolver": ""}
    return {str(v[7]): (v[8], v[9], v[10], v[11])
            for v in map(mirrors.values, db.rows(mirrors.MIRRORS, params))}


def test_a_group_is_read_through_every_resolver_even_when_none_bears_its_name(
        db: ClickHouseDatabase) -> None:
    _world(db)
    # the UDP resolver refuses the mirror; the DoT one still resolves it on the last day
    _dns(db, [(DAY1, "cloudflare", "ok", 1), (DAY1, "cloudflare-dot", "ok", 1),
              (DAY2, "cloudflare", "blocked", 1), (DAY2, "cloudflare-dot", "ok", 1),
              (DAY2, "isp", "blocked", 1)])
    assert _report(db) == {
        "Cloudflare Inc": (3, 4, DAY2.isoformat(), "yes"),
        "isp": (0, 1, DAY2.isoformat(), "no")}


def test_the_groups_edge_refusing_the_mirror_makes_it_unreachable(
        db: ClickHouseDatabase) -> None:
    _world(db)
    _dns(db, [(DAY1, "cloudflare", "ok", 1), (DAY2, "cloudflare", "ok", 1),
              (DAY2, "cloudflare-dot", "ok", 1)])
    _edge_refuses(db, DAY2)
    assert _report(db)["Cloudflare Inc"] == (3, 3, DAY2.isoformat(), "no")


def test_filtering_by_a_resolver_finds_its_group(db: ClickHouseDatabase) -> None:
    _world(db)
    _dns(db, [(DAY1, "cloudflare-dot", "ok", 1)])
    params = {"order": "", "site": "", "country": "", "resolver": "cloudflare-dot"}
    rows = [mirrors.values(r) for r in db.rows(mirrors.MIRRORS, params)]
    assert [(r[7], r[11]) for r in rows] == [("Cloudflare Inc", "yes")]
