"""Compliance over the site layer (issue 13), on real chDB: site verdicts
inserted as the classify pass writes them (layers_daily filled by its
materialized view), orders mirrored by the collector's own Store, then every
figure of the report checked by hand.

The world: the Milan order against Cloudflare (its resolvers and its edge, one
intermediary), the Italian ISP (its resolver and its network AS3269) and Quad9
(a plain resolver name). Probes it-1 (AS3269) and it-2 (AS30722) in Italy.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.reports import Report, build_report
from blockwatch.collector.orders import parse_orders
from blockwatch.collector.store import Store
from tests.integration.analysis_world import create_schema
from tests.integration.collector_harness import chdb_dsn

ORDERS = """
orders:
  - id: milan
    authority: Tribunale di Milano
    issued: 2024-07-15
    deadline: 2024-08-14
    countries: [IT]
    intermediaries:
      - {name: cloudflare, resolvers: [cloudflare, cloudflare-doh], networks: [Cloudflare]}
      - {name: isp, networks: [AS3269]}
      - quad9
      - google-doh          # nobody measures it
    sites:
      - name: kat
        domains: [kickasstorrents.to]
        mirrors: [{domain: kickasstorrents.cr, added: 2024-08-01}]
      - name: tpb
        domains: [thepiratebay.org]
"""

D0, D1, D2 = dt.date(2024, 8, 13), dt.date(2024, 8, 15), dt.date(2024, 8, 16)
KAT, MIRROR, TPB = "kickasstorrents.to", "kickasstorrents.cr", "thepiratebay.org"
P1, P2 = ("it-1", "IT", 3269, False), ("it-2", "IT", 30722, False)
CTRL, DE = ("it-control", "IT", 1, True), ("de-1", "DE", 3320, False)
UNTIL = dt.date(2024, 8, 20)

OK = ("ok", "", "", "", "")
SINKHOLE_ISP = ("blocked", "dns", "sinkhole", "resolver", "isp")
EDGE_451 = ("blocked", "http", "http-451", "edge", "cloudflare")
DROP_3269 = ("blocked", "ip", "ip-drop", "network", "AS3269")
NXDOMAIN_CF = ("blocked", "dns", "nxdomain", "resolver", "cloudflare")

# (day, probe, resolver, domain, site verdict); the letters are the test's names
ROWS: dict[str, tuple[dt.date, tuple[str, str, int, bool], str, str, tuple[str, ...]]] = {
    "a": (D0, P1, "cloudflare", KAT, OK),
    "b": (D0, P1, "cloudflare-doh", KAT, OK),
    "c": (D0, P1, "isp", KAT, SINKHOLE_ISP),
    "d": (D0, P1, "quad9", KAT, OK),
    "e": (D0, P2, "google", KAT, OK),
    # D1: Cloudflare's edge answers 451 for kat whatever resolved it
    "f": (D1, P1, "cloudflare", KAT, EDGE_451),
    "g": (D1, P1, "cloudflare-doh", KAT, EDGE_451),
    "h": (D1, P1, "isp", KAT, SINKHOLE_ISP),
    "i": (D1, P1, "quad9", KAT, EDGE_451),
    "j": (D1, P1, "isp", TPB, DROP_3269),
    "k": (D1, P1, "cloudflare", TPB, OK),
    "l": (D1, P2, "isp", TPB, OK),
    # D2: 1.1.1.1 answers NXDOMAIN for tpb; the mirror (due 2024-08-31) loads
    "m": (D2, P1, "cloudflare", TPB, NXDOMAIN_CF),
    "n": (D2, P1, "cloudflare", MIRROR, OK),
    "o": (D2, P2, "google", KAT, EDGE_451),
    # never counted: a control vantage, a country outside the order
    "x": (D1, CTRL, "cloudflare", KAT, EDGE_451),
    "y": (D1, DE, "cloudflare", KAT, EDGE_451),
}

_SEQ = itertools.count(1)


def site_row(day: dt.date, probe: tuple[str, str, int, bool], resolver: str, domain: str,
             site: tuple[str, ...]) -> dict[str, Any]:
    verdict, layer, method, party, operator = site
    at = dt.datetime.combine(day, dt.time(10, 0), dt.UTC)
    dns_blocked = layer == "dns"
    return {
        "measurement_id": uuid.UUID(int=next(_SEQ)), "started_at": at,
        "received_at": at + dt.timedelta(seconds=30), "round_id": f"{probe[0]}-{day}",
        "probe_name": probe[0], "probe_country": probe[1], "probe_asn": probe[2],
        "probe_control": probe[3], "domain": domain, "qtype": 1, "purpose": "target",
        "resolver_name": resolver, "transport": "doh" if resolver.endswith("-doh") else "udp",
        "dns_verdict": "blocked" if dns_blocked else "ok",
        "dns_method": method if dns_blocked else "", "dns_rule": "",
        "web_verdict": "unknown" if dns_blocked else verdict,
        "web_method": "" if dns_blocked else method, "web_rule": "",
        "web_observation_ids": [],
        "web_layer": "" if dns_blocked else layer, "web_party": "" if dns_blocked else party,
        "web_operator": "" if dns_blocked else operator,
        "verdict": verdict, "layer": layer, "method": method, "party": party,
        "operator": operator, "confirmed_by": [], "classifier_version": "test",
        "classified_at": at + dt.timedelta(minutes=1)}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseDatabase]:
    dsn = chdb_dsn(tmp_path_factory)
    database = f"compliance{time.monotonic_ns()}"
    handle = create_schema(dsn, database)
    store = Store(dsn, database)
    try:
        store.replace_orders(parse_orders(ORDERS, source="milan.yaml"))
    finally:
        store.close()
    rows = [site_row(*r) for r in ROWS.values()]
    handle.insert("site_verdicts", list(rows[0]), [list(r.values()) for r in rows])
    yield handle
    handle.close()


def run(db: ClickHouseDatabase, **filters: Any) -> Report:
    filters.setdefault("until", UNTIL)
    return build_report("compliance", Filters(**filters), db.rows)


def test_one_row_per_intermediary_from_the_mirrored_groups(db: ClickHouseDatabase) -> None:
    assert db.rows("SELECT intermediary, resolvers, networks FROM order_intermediaries "
                   "ORDER BY intermediary") == [
        ("cloudflare", ["cloudflare", "cloudflare-doh"], ["cloudflare"]),
        ("google-doh", ["google-doh"], []), ("isp", ["isp"], ["AS3269"]),
        ("quad9", ["quad9"], [])]
    report = run(db, order="milan")
    assert report.column("intermediary") == ["cloudflare", "google-doh", "isp", "quad9"]


def test_edge_and_dns_remedy_are_the_intermediarys_own(db: ClickHouseDatabase) -> None:
    cf = {r["intermediary"]: r for r in run(db, order="milan").records()}["cloudflare"]
    assert cf["monitoring_since"] == "2024-08-13"
    assert cf["first_blocked"] == "2024-08-15T10:00:00Z"       # f: its edge, not c (the ISP)
    assert cf["status"] == "first seen blocked after 2 days of monitoring"
    assert cf["days_late"] == 1
    assert cf["remedy"] == "DNS nxdomain + edge http-451"
    # since the deadline: own f g i m o; reachable k l; the ISP's h j are not
    # evidence about an edge the requests never reached
    assert (cf["blocked_since_deadline"], cf["total_since_deadline"],
            cf["share_blocked_pct"]) == (5, 7, 71.4)
    assert cf["blocked_by_others"] == 2
    assert cf["others"] == "network AS3269: ip-drop; resolver isp: sinkhole"
    # the mirror is not due before 2024-08-31: reachable, not overdue
    assert (cf["mirrors"], cf["mirrors_reachable"], cf["mirrors_overdue"]) == (1, 1, 0)


def test_edge_remedy_alone_says_dns_unchanged(db: ClickHouseDatabase) -> None:
    cf = {r["intermediary"]: r for r in run(db, order="milan", since=D1,
                                               until=D1).records()}["cloudflare"]
    assert cf["remedy"] == "edge http-451, DNS unchanged"
    assert (cf["blocked_since_deadline"], cf["total_since_deadline"]) == (3, 5)


def test_an_isp_complies_by_its_resolver_and_its_network(db: ClickHouseDatabase) -> None:
    isp = {r["intermediary"]: r for r in run(db, order="milan").records()}["isp"]
    # its sinkhole from the first measurement: not late, whatever came later
    assert isp["status"] == "blocked when monitoring began" and isp["days_late"] == 0
    assert isp["remedy"] == "DNS sinkhole + network ip-drop"
    # in scope: its resolver's paths and its own network's (it-1); own h j,
    # reachable k l; Cloudflare's f g i m are Cloudflare's
    assert (isp["blocked_since_deadline"], isp["total_since_deadline"],
            isp["blocked_by_others"]) == (2, 4, 4)
    assert isp["others"] == "edge cloudflare: http-451; resolver cloudflare: nxdomain"


def test_a_block_by_another_party_is_not_the_resolvers_compliance(
        db: ClickHouseDatabase) -> None:
    """Quad9 answered normally; Cloudflare's edge refused the site behind it."""
    q9 = {r["intermediary"]: r for r in run(db, order="milan").records()}["quad9"]
    assert q9["first_blocked"] is None and q9["status"] == "never blocked"
    assert q9["remedy"] == "none observed"
    # i: its DNS was seen answering after the deadline, unblocked by its hand
    assert (q9["blocked_since_deadline"], q9["total_since_deadline"],
            q9["blocked_by_others"]) == (0, 1, 1)
    assert q9["days_late"] == (UNTIL - dt.date(2024, 8, 14)).days
    assert q9["others"] == "edge cloudflare: http-451"


def test_unmeasured_intermediary_says_so(db: ClickHouseDatabase) -> None:
    row = {r["intermediary"]: r for r in run(db, order="milan").records()}["google-doh"]
    assert row["status"] == "not measured"
    assert row["remedy"] is None and row["days_late"] is None
    assert row["total_since_deadline"] == 0


def test_by_domain_counts_the_mirror_from_its_own_due_day(db: ClickHouseDatabase) -> None:
    rows = {(r["intermediary"], r["domain"]): r
            for r in run(db, order="milan", by="domain").records()}
    mirror = rows[("cloudflare", MIRROR)]
    assert (mirror["kind"], mirror["deadline"], mirror["status"]) == (
        "mirror", "2024-08-31", "never blocked")
    assert (mirror["days_late"], mirror["mirrors_reachable"]) == (0, 1)
    tpb = rows[("cloudflare", TPB)]
    assert tpb["remedy"] == "DNS nxdomain"
    assert (tpb["blocked_since_deadline"], tpb["total_since_deadline"]) == (1, 3)


def test_by_asn_and_resolver_filter(db: ClickHouseDatabase) -> None:
    by_asn = {(r["intermediary"], r["asn"]): r
              for r in run(db, order="milan", by="asn").records()}
    assert (by_asn[("cloudflare", 30722)]["blocked_since_deadline"],
            by_asn[("cloudflare", 30722)]["total_since_deadline"]) == (1, 2)   # o, l
    # a resolver of a group names the group, over that resolver's paths only
    (only,) = run(db, order="milan", resolver="cloudflare-doh").records()
    assert only["intermediary"] == "cloudflare"
    assert (only["blocked_since_deadline"], only["total_since_deadline"]) == (1, 1)   # g


def test_every_count_lists_the_measurements_it_counts(db: ClickHouseDatabase) -> None:
    """The web view's links: the list behind each count holds that many rows."""
    from blockwatch.analysis.webview.evidence import evidence

    for row in run(db, order="milan").records():
        for column, verdict in (("blocked_since_deadline", "blocked"),
                                ("total_since_deadline", "total"),
                                ("blocked_by_others", "others")):
            params = {"order": "milan", "intermediary": str(row["intermediary"]),
                      "verdict": verdict, "scope": "due", "until": UNTIL.isoformat()}
            (counted,) = evidence("count", params, db.rows).rows
            listed = evidence("measurements", params, db.rows)
            assert counted[0] == len(listed.rows) == row[column], (row["intermediary"], column)
    # Cloudflare's own blocks: its edge on three resolvers' paths, its DNS once
    listed = evidence("measurements", {"order": "milan", "intermediary": "cloudflare",
                                       "verdict": "blocked", "scope": "due"}, db.rows)
    assert sorted(str(r["by"]) for r in listed.records()) == [
        "edge cloudflare"] * 4 + ["resolver cloudflare"]


def test_timeline_days_follow_the_report_rules(db: ClickHouseDatabase) -> None:
    from blockwatch.analysis.webview.evidence import evidence

    days = evidence("compliance_days", {"order": "milan", "until": UNTIL.isoformat()},
                    db.rows).records()
    cf = {r["day"]: (r["blocked"], r["total"], r["blocked_by_others"])
          for r in days if r["intermediary"] == "cloudflare"}
    # D0: a b d e reachable, c the ISP's; D1: f g i own, k l reachable, h j others;
    # D2: m o own, n reachable
    assert cf == {"2024-08-13": (0, 4, 1), "2024-08-15": (3, 5, 2), "2024-08-16": (2, 3, 0)}


def test_measurement_page_shows_the_site_verdict(db: ClickHouseDatabase) -> None:
    from blockwatch.analysis.webview.evidence import evidence

    (mid,) = db.rows("SELECT measurement_id FROM site_verdicts WHERE resolver_name = 'quad9' "
                     "AND verdict = 'blocked'")[0]
    fields = {r[0]: r[1] for r in evidence("site", {"id": str(mid)}, db.rows).rows}
    assert (fields["site verdict"], fields["layer"], fields["method"], fields["by"],
            fields["operator"]) == ("blocked", "http", "http-451", "edge", "cloudflare")
    assert fields["dns verdict"] == "ok"



def test_a_mirror_measured_twice_at_one_instant_is_reachable_if_one_path_reaches_it(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    # Two paths measure the mirror at the same microsecond: 1.1.1.1 refuses it
    # (NXDOMAIN), DoH loads it. The latest state ties on time; the answer must
    # not depend on which rollup row the engine reads first (separate inserts,
    # separate parts, either order).
    for order in ((NXDOMAIN_CF, OK), (OK, NXDOMAIN_CF)):
        dsn = chdb_dsn(tmp_path_factory)
        database = f"mirrortie{time.monotonic_ns()}"
        handle = create_schema(dsn, database)
        store = Store(dsn, database)
        try:
            store.replace_orders(parse_orders(ORDERS, source="milan.yaml"))
        finally:
            store.close()
        try:
            for site in order:
                resolver = "cloudflare" if site is NXDOMAIN_CF else "cloudflare-doh"
                row = site_row(D2, P1, resolver, MIRROR, site)
                handle.insert("site_verdicts", list(row), [list(row.values())])
            cf = {r["intermediary"]: r for r in run(handle, order="milan").records()}
            assert cf["cloudflare"]["mirrors_reachable"] == 1, order
        finally:
            handle.close()
