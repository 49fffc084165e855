"""Reports on a known world stored in real chDB (tests/integration/analysis_world.py):
verdicts by `reclassify`, then every figure of every report checked by hand."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator

import pytest

from blockwatch.analysis.answer import answer
from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.errors import UsageError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.httpfingerprints import load_http_fingerprints
from blockwatch.analysis.known import UnknownValue
from blockwatch.analysis.reports import Report, build_report
from blockwatch.analysis.storage import (
    reclassify,
    store_pending_layer_verdicts,
    store_pending_verdicts,
)
from blockwatch.collector.orders import parse_orders
from tests.integration.analysis_world import (
    AGCOM,
    ORDERS_YAML,
    build_world,
    create_schema,
    store_orders,
    store_rows,
    world_rows,
)
from tests.integration.collector_harness import chdb_dsn

UNTIL = dt.date(2024, 8, 20)
FPS = load_fingerprints()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseDatabase]:
    handle = build_world(chdb_dsn(tmp_path_factory), f"reports{time.monotonic_ns()}")
    result = reclassify(handle, FPS)
    assert result.measurements == len(world_rows())
    yield handle
    handle.close()


def run(db: ClickHouseDatabase, name: str, **filters: object) -> Report:
    return build_report(name, Filters(until=UNTIL, **filters), db.rows)  # type: ignore[arg-type]


def test_effectiveness_per_country_resolver_site(db: ClickHouseDatabase) -> None:
    rows = run(db, "effectiveness").records()
    got = {(r["country"], r["resolver"], r["site"]):
           (r["blocked"], r["total"], r["share_blocked_pct"], r["method"], r["inconclusive"])
           for r in rows}
    assert got == {
        ("DE", "cloudflare", "kat"): (0, 1, 0.0, None, 0),
        ("DE", "cloudflare", "tpb"): (1, 1, 100.0, "ede", 0),
        ("DE", "quad9", "tpb"): (1, 1, 100.0, "nxdomain", 0),
        # kat counts its mirror: D0 ok, D1 EDE + mirror ok, D2 EDE + mirror ok
        ("IT", "cloudflare", "kat"): (2, 5, 40.0, "ede", 0),
        ("IT", "cloudflare", "tpb"): (1, 3, 33.3, "ede", 0),
        # it-2's google fails the control domain too: error, not in the share
        ("IT", "google", "kat"): (0, 0, None, None, 1),
        # stop page 4x (it-1) + drop 2x (it-2)
        ("IT", "isp", "kat"): (6, 6, 100.0, "sinkhole", 0),
        ("IT", "isp", "tpb"): (2, 5, 40.0, "nxdomain", 0),
    }
    # no control probe and no control domain ever appears
    assert "NL" not in {r["country"] for r in rows}


def test_effectiveness_filters_and_by_asn(db: ClickHouseDatabase) -> None:
    only = run(db, "effectiveness", country="it", resolver="isp", site="tpb").records()
    assert [(r["blocked"], r["total"]) for r in only] == [(2, 5)]
    by_asn = run(db, "effectiveness", country="IT", resolver="isp", by="asn")
    assert by_asn.keys[:3] == ("country", "asn", "resolver")
    assert {(r["asn"], r["site"]): (r["blocked"], r["total"]) for r in by_asn.records()} == {
        (3269, "kat"): (4, 4), (3269, "tpb"): (2, 3), (30722, "kat"): (2, 2),
        (30722, "tpb"): (0, 2)}
    days = run(db, "effectiveness", country="IT", resolver="cloudflare",
               since=dt.date(2024, 8, 16))
    assert {r["site"]: (r["blocked"], r["total"]) for r in days.records()} == {
        "kat": (1, 2), "tpb": (1, 1)}


def test_effectiveness_by_domain_splits_a_site_from_its_mirror(db: ClickHouseDatabase) -> None:
    by_domain = run(db, "effectiveness", country="IT", resolver="cloudflare", by="domain")
    assert by_domain.keys[:4] == ("country", "resolver", "site", "domain")
    # the site's 40% is its .to domain blocked 2 of 3 times and the mirror never
    assert {(r["site"], r["domain"]): (r["blocked"], r["total"])
            for r in by_domain.records()} == {
        ("kat", "kickasstorrents.to"): (2, 3), ("kat", "kickasstorrents.cr"): (0, 2),
        ("tpb", "thepiratebay.org"): (1, 3)}
    spill = run(db, "spillover", by="domain").records()
    assert {(r["resolver"], r["domain"]) for r in spill} == {
        ("cloudflare", "thepiratebay.org"), ("quad9", "thepiratebay.org")}


def test_compliance_first_blocked_days_late_mirrors(db: ClickHouseDatabase) -> None:
    rows = {r["intermediary"]: r for r in run(db, "compliance", order="it-2024-kat").records()}
    assert set(rows) == {"cloudflare", "isp"}
    cf, isp = rows["cloudflare"], rows["isp"]
    assert cf["deadline"] == "2024-08-14"
    # monitored from D0, before the deadline: the first block on D1 is 1 day late
    assert cf["monitoring_since"] == "2024-08-13"
    assert cf["status"] == "first seen blocked after 2 days of monitoring"
    assert cf["first_blocked"] == "2024-08-15T10:00:00Z" and cf["days_late"] == 1
    # the mirror is due 30 days after it was added (2024-08-31): its answers on
    # D1 and D2 are not counted against the deadline
    assert (cf["blocked_since_deadline"], cf["total_since_deadline"],
            cf["share_blocked_pct"]) == (3, 4, 75.0)
    assert (cf["mirrors"], cf["mirrors_reachable"], cf["mirrors_overdue"]) == (1, 1, 0)
    # the ISP redirected before the deadline: not late
    assert isp["status"] == "blocked when monitoring began"
    assert isp["first_blocked"] == "2024-08-13T10:00:00Z" and isp["days_late"] == 0
    assert (isp["blocked_since_deadline"], isp["total_since_deadline"],
            isp["share_blocked_pct"]) == (6, 8, 75.0)
    assert (isp["mirrors"], isp["mirrors_reachable"], isp["mirrors_overdue"]) == (1, 0, 0)


def test_compliance_days_late_only_with_evidence(db: ClickHouseDatabase) -> None:
    """An order whose deadline (2020) predates monitoring (2024): blocked at
    the first measurement, so nothing shows when blocking began."""
    (row,) = run(db, "compliance", order="it-2020-kat").records()
    assert row["deadline"] == "2020-01-31" and row["monitoring_since"] == "2024-08-13"
    assert row["status"] == "blocked when monitoring began"
    assert row["first_blocked"] == "2024-08-13T10:00:00Z"
    assert row["days_late"] is None          # not the 1656 days a first block implies
    assert (row["blocked_since_deadline"], row["total_since_deadline"]) == (5, 5)


def test_compliance_never_blocked_is_late_until_as_of(db: ClickHouseDatabase) -> None:
    rows = build_report("compliance", Filters(site="tpb", resolver="isp", country="IT",
                                              order="it-2024-kat",
                                              until=dt.date(2024, 8, 13)), db.rows).records()
    # on D0 alone the ISP resolved tpb: never blocked, and not due yet
    assert rows[0]["status"] == "never blocked"
    assert rows[0]["first_blocked"] is None and rows[0]["days_late"] == 0
    later = build_report("compliance", Filters(site="tpb", resolver="cloudflare",
                                               until=dt.date(2024, 8, 15)), db.rows).records()
    # it resolved tpb on D1, after the deadline: late, evidenced
    assert later[0]["status"] == "never blocked"
    assert later[0]["first_blocked"] is None and later[0]["days_late"] == 1


def test_compliance_by_domain_lists_mirrors_with_their_own_deadline(
        db: ClickHouseDatabase) -> None:
    rows = {(r["intermediary"], r["domain"]): r
            for r in run(db, "compliance", order="it-2024-kat", by="domain").records()}
    mirror = rows[("cloudflare", "kickasstorrents.cr")]
    assert (mirror["kind"], mirror["added"], mirror["deadline"]) == (
        "mirror", "2024-08-01", "2024-08-31")
    assert mirror["status"] == "never blocked" and mirror["days_late"] == 0   # not due yet
    assert (mirror["total_since_deadline"], mirror["mirrors_reachable"]) == (0, 1)
    kat = rows[("cloudflare", "kickasstorrents.to")]
    assert (kat["kind"], kat["deadline"], kat["days_late"]) == ("domain", "2024-08-14", 1)
    assert (kat["blocked_since_deadline"], kat["total_since_deadline"]) == (2, 2)
    assert rows[("isp", "thepiratebay.org")]["status"] == \
        "first seen blocked after 2 days of monitoring"


def test_leakage_resolvers_still_resolving_after_deadline(db: ClickHouseDatabase) -> None:
    # no web follow-up in this world: the site layer is the DNS layer; every path
    # is UDP, IPv4 (A queries)
    records = run(db, "leakage").records()
    assert {(r["transport"], r["family"]) for r in records} == {("udp", 4)}
    assert records == run(db, "leakage", layer="dns").records()
    got = {(r["order"], r["resolver"], r["site"]): (r["intermediary"], r["reached"],
                                                    r["total"], r["last_reached"])
           for r in records}
    # cloudflare's kat mirror resolves, but it is not due before 2024-08-31
    assert got == {
        # the old order is due since 2020, and Cloudflare is no intermediary of it
        ("it-2020-kat", "cloudflare", "kat"): ("no", 1, 3, "2024-08-13T10:00:00Z"),
        ("it-2024-kat", "cloudflare", "tpb"): ("yes", 1, 2, "2024-08-15T10:00:00Z"),
        ("it-2024-kat", "isp", "tpb"): ("yes", 2, 4, "2024-08-16T10:00:00Z"),   # it-2 leaks
    }
    by_domain = run(db, "leakage", by="domain", resolver="isp").records()
    assert [(r["domain"], r["kind"], r["due"], r["reached"]) for r in by_domain] == [
        ("thepiratebay.org", "domain", "2024-08-14", 2)]


def test_spillover_outside_ordered_countries(db: ClickHouseDatabase) -> None:
    got = {(r["country"], r["resolver"], r["site"]): (r["blocked"], r["total"], r["method"])
           for r in run(db, "spillover", order="it-2024-kat").records()}
    assert got == {("DE", "cloudflare", "tpb"): (1, 1, "ede"),
                   ("DE", "quad9", "tpb"): (1, 1, "nxdomain")}


def test_timeline_per_day_and_resolver(db: ClickHouseDatabase) -> None:
    got = {(r["day"], r["resolver"]): (r["blocked"], r["total"])
           for r in run(db, "timeline", country="IT").records()}
    assert got == {
        ("2024-08-13", "cloudflare"): (0, 2), ("2024-08-13", "isp"): (1, 2),
        ("2024-08-15", "cloudflare"): (1, 3), ("2024-08-15", "google"): (0, 0),
        ("2024-08-15", "isp"): (4, 5),
        ("2024-08-16", "cloudflare"): (2, 3), ("2024-08-16", "isp"): (3, 4)}


def test_probes_and_zero_blocked_on_controls(db: ClickHouseDatabase) -> None:
    got = {r["probe"]: (r["country"], r["control"], r["measurements"], r["failures"],
                        r["errors"], r["blocked"], r["blocked_controls"])
           for r in run(db, "probes").records()}
    assert got == {
        "de-1": ("DE", "no", 9, 0, 0, 2, 0),
        "it-1": ("IT", "no", 21, 0, 0, 9, 0),
        "it-2": ("IT", "no", 11, 6, 4, 2, 0),
        "nl-control": ("NL", "yes", 12, 0, 0, 0, 0),
    }
    blocked_controls = db.rows("SELECT count() FROM verdicts WHERE verdict = 'blocked' AND "
                               "(purpose = 'control' OR probe_control)")
    assert blocked_controls == [(0,)]


def test_verdict_rows_carry_rule_evidence_and_version(db: ClickHouseDatabase) -> None:
    rows = db.rows("SELECT rule, fingerprint, answer, classifier_version FROM verdicts "
                   "WHERE method = 'sinkhole' LIMIT 1")
    rule, fingerprint, answer, version = rows[0]
    assert (rule, fingerprint, answer) == ("answer_matches_fingerprint",
                                           "cl.dns_nat_it_agcom_block", [AGCOM])
    assert re.fullmatch(r"\d+\+fp\.[0-9a-f]+", version), version


def test_reclassify_since_a_day_rewrites_only_that_range(db: ClickHouseDatabase) -> None:
    before = run(db, "effectiveness")
    result = reclassify(db, FPS, dt.date(2024, 8, 16))
    assert result.measurements == sum(1 for r in world_rows() if r.day >= dt.date(2024, 8, 16))
    assert run(db, "effectiveness") == before
    assert db.rows("SELECT count() FROM verdicts") == [(len(world_rows()),)]
    assert store_pending_verdicts(db, FPS).measurements == 0     # nothing left behind


def test_unknown_report_and_misplaced_filters_are_usage_errors(db: ClickHouseDatabase) -> None:
    with pytest.raises(UsageError):
        run(db, "nope")
    with pytest.raises(UsageError):
        run(db, "probes", site="kat")
    with pytest.raises(UsageError):
        run(db, "timeline", by="asn")
    with pytest.raises(UsageError):
        run(db, "probes", by="domain")


def test_status_counts_measurements_awaiting_classification(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Stored but not yet classified: every answer says how many and since when."""
    fresh = create_schema(chdb_dsn(tmp_path_factory), f"pending{time.monotonic_ns()}")
    try:
        empty = answer("effectiveness", Filters(), fresh.rows)
        assert empty.status.empty and empty.report.rows == ()
        assert empty.status.note().startswith("no measurements yet")
        store_orders(fresh, parse_orders(ORDERS_YAML, source="w.yaml"))
        store_rows(fresh, world_rows())
        waiting = answer("effectiveness", Filters(until=UNTIL), fresh.rows)
        assert waiting.status.pending == len(world_rows())
        assert waiting.status.pending_since == dt.datetime(2024, 8, 13, 10, 0, 30,
                                                           tzinfo=dt.UTC)
        assert waiting.report.rows == ()      # nothing classified: partial (here: nothing)
        assert f"{len(world_rows())} measurements await classification since " \
            "2024-08-13T10:00:30Z" in waiting.status.note()
        store_pending_verdicts(fresh, FPS)
        # DNS verdicts alone: the layered reports count site verdicts, which wait
        # for the web follow-ups; until they are written the figures are partial
        dns_only = answer("effectiveness", Filters(until=UNTIL), fresh.rows)
        assert dns_only.status.pending == len(world_rows()) and dns_only.report.rows == ()
        store_pending_layer_verdicts(fresh, FPS, load_http_fingerprints())
        done = answer("effectiveness", Filters(until=UNTIL), fresh.rows)
        assert done.status.pending == 0 and done.status.note() == ""
        assert done.report == run(fresh, "effectiveness") and done.report.rows
    finally:
        fresh.close()


def test_unknown_filter_values_are_named_with_the_known_ones(db: ClickHouseDatabase) -> None:
    with pytest.raises(UnknownValue) as order:
        answer("compliance", Filters(order="it-2024-kta"), db.rows)
    assert "'it-2024-kta' is unknown; did you mean 'it-2024-kat'?" in str(order.value)
    assert order.value.known == ("it-2020-kat", "it-2024-kat")
    with pytest.raises(UnknownValue) as country:
        answer("effectiveness", Filters(country="FR"), db.rows)
    assert country.value.field == "country" and country.value.known == ("DE", "IT", "NL")
    with pytest.raises(UnknownValue) as site:
        answer("leakage", Filters(site="katt"), db.rows)
    assert "did you mean 'kat'" in str(site.value)
    with pytest.raises(UnknownValue):
        answer("probes", Filters(resolver="cloudfare"), db.rows)
