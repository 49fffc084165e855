"""The layered reports (`--layer dns|web|site`) on a known world of site
verdicts in real chDB (tests/integration/layers_world.py): every figure of
effectiveness, leakage, spillover and timeline at each layer, checked by hand
against the stories the world tells."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from blockwatch.analysis.answer import answer
from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.errors import UsageError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.reports import Report, Value, build_report
from blockwatch.collector.orders import parse_orders
from tests.integration.analysis_world import create_schema, store_orders
from tests.integration.collector_harness import chdb_dsn
from tests.integration.layers_world import (
    D1,
    IT_CF_DOH,
    IT_GOOGLE,
    IT_ISP,
    KAT,
    OK,
    SiteRow,
    build_layered_world,
    layered_rows,
    store_site_verdicts,
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseDatabase]:
    handle = build_layered_world(chdb_dsn(tmp_path_factory), f"layers{time.monotonic_ns()}")
    yield handle
    handle.close()


def run(db: ClickHouseDatabase, name: str, layer: str = "", **filters: object) -> Report:
    return build_report(name, Filters(layer=layer, **filters), db.rows)  # type: ignore[arg-type]


def _how(r: dict[str, Value]) -> tuple[Value, Value, Value]:
    return r["layer"], r["method"], r["blocked_by"]


CF = ("http", "http-451", "edge cloudflare")
NONE = (None, None, None)


def effectiveness(db: ClickHouseDatabase, layer: str) -> dict[tuple[Value, ...], object]:
    return {(r["country"], r["resolver"], r["site"]):
            (r["blocked"], r["total"], r["share_blocked_pct"], *_how(r), r["inconclusive"])
            for r in run(db, "effectiveness", layer).records()}


def test_effectiveness_site_layer_blocked_where_and_by_whom(db: ClickHouseDatabase) -> None:
    assert effectiveness(db, "site") == {
        # Milan: 1.1.1.1 resolves, the edge answers 451 (D0 was before the remedy)
        ("IT", "cloudflare", "kat"): (2, 3, 66.7, *CF, 0),
        ("IT", "cloudflare-doh", "kat"): (1, 1, 100.0, *CF, 0),
        ("IT", "cloudflare", "tpb"): (0, 1, 0.0, *NONE, 0),
        # the AGCOM stop page: the DNS layer decides, the resolver's doing
        ("IT", "isp", "tpb"): (1, 1, 100.0, "dns", "sinkhole", "resolver isp", 0),
        # Piracy Shield: resolved, dropped by the network, not the resolver
        ("IT", "isp", "kat"): (1, 1, 100.0, "ip", "ip-drop", "network AS3269", 0),
        ("IT", "quad9", "tpb"): (1, 1, 100.0, "dns", "nxdomain", "resolver quad9", 0),
        ("IT", "google", "tpb"): (0, 1, 0.0, *NONE, 0),
        ("IT", "google", "kat"): (0, 0, None, *NONE, 1),
        ("DE", "cloudflare", "kat"): (1, 2, 50.0, *CF, 0),
        ("DE", "quad9", "tpb"): (1, 1, 100.0, "dns", "ede", "resolver quad9", 0),
    }
    # the default layer is the site's; the control probe and domain never count
    default = run(db, "effectiveness")
    assert default.records() == run(db, "effectiveness", "site").records()
    assert "NL" not in default.column("country")
    assert default.title.endswith("(site: first layer that blocks)")


def test_effectiveness_dns_layer_sees_only_the_resolvers(db: ClickHouseDatabase) -> None:
    got = effectiveness(db, "dns")
    # Cloudflare's DNS is unchanged: at the DNS layer the Milan remedy is invisible,
    # and so is the network's IP drop
    assert got[("IT", "cloudflare", "kat")] == (0, 3, 0.0, *NONE, 0)
    assert got[("IT", "cloudflare-doh", "kat")] == (0, 1, 0.0, *NONE, 0)
    assert got[("IT", "isp", "kat")] == (0, 1, 0.0, *NONE, 0)
    assert got[("IT", "isp", "tpb")] == (1, 1, 100.0, "dns", "sinkhole", "resolver isp", 0)
    assert got[("DE", "cloudflare", "kat")] == (0, 2, 0.0, *NONE, 0)
    assert got[("IT", "google", "kat")] == (0, 0, None, *NONE, 1)
    assert len(got) == 10


def test_effectiveness_web_layer_sees_the_edge_and_the_network(db: ClickHouseDatabase) -> None:
    got = effectiveness(db, "web")
    assert got[("IT", "cloudflare", "kat")] == (2, 3, 66.7, *CF, 0)
    # the stop page's address answers with the block page: the network's page
    assert got[("IT", "isp", "tpb")] == (1, 1, 100.0, "http", "blockpage", "network AS3269", 0)
    assert got[("IT", "isp", "kat")] == (1, 1, 100.0, "ip", "ip-drop", "network AS3269", 0)
    # NXDOMAIN leaves no address to follow: nothing to judge at the web layer
    assert got[("IT", "quad9", "tpb")] == (0, 0, None, *NONE, 1)
    assert got[("DE", "quad9", "tpb")] == (0, 0, None, *NONE, 1)


def test_effectiveness_grains_and_filters_at_a_layer(db: ClickHouseDatabase) -> None:
    by_asn = run(db, "effectiveness", "site", country="IT", resolver="isp", by="asn")
    assert by_asn.keys == ("country", "asn", "resolver", "site", "blocked", "total",
                           "share_blocked_pct", "layer", "method", "blocked_by", "filtered",
                           "inconclusive")
    assert {(r["asn"], r["site"]): (r["blocked"], r["method"]) for r in by_asn.records()} == {
        (3269, "kat"): (1, "ip-drop"), (3269, "tpb"): (1, "sinkhole")}
    by_domain = run(db, "effectiveness", "dns", resolver="cloudflare", by="domain",
                    country="IT")
    assert [(r["domain"], r["blocked"], r["total"]) for r in by_domain.records()] == [
        ("kickasstorrents.to", 0, 3), ("thepiratebay.org", 0, 1)]


def test_leakage_lists_the_paths_that_still_reach_the_site(db: ClickHouseDatabase) -> None:
    def leaks(layer: str) -> dict[tuple[Value, ...], object]:
        return {(r["order"], r["resolver"], r["transport"], r["family"], r["site"]):
                (r["intermediary"], r["reached"], r["total"], r["share_reached_pct"],
                 r["last_reached"], *_how(r))
                for r in run(db, "leakage", layer).records()}

    site = leaks("site")
    assert site == {
        # the old order (due since 2020): Cloudflare's UDP/IPv4 path reached kat on
        # D0, then the edge refused it
        ("it-2020-kat", "cloudflare", "udp", 4, "kat"):
            ("no", 1, 2, 50.0, "2024-08-13T10:00:01Z", *CF),
        ("it-2024-kat", "cloudflare", "udp", 4, "tpb"):
            ("yes", 1, 1, 100.0, "2024-08-15T10:00:07Z", *NONE),
        ("it-2024-kat", "google", "udp", 6, "tpb"):
            ("no", 1, 1, 100.0, "2024-08-15T10:00:08Z", *NONE),
    }
    assert leaks("web") == site
    dns = leaks("dns")
    # at the DNS layer every Cloudflare path and the ISP's kat path still resolve:
    # what the DNS-only report said, and what the other layers correct
    assert {k for k in dns if k[0] == "it-2024-kat"} == {
        ("it-2024-kat", "cloudflare", "udp", 4, "kat"),
        ("it-2024-kat", "cloudflare", "udp", 6, "kat"),
        ("it-2024-kat", "cloudflare-doh", "doh", 4, "kat"),
        ("it-2024-kat", "isp", "udp", 4, "kat"),
        ("it-2024-kat", "cloudflare", "udp", 4, "tpb"),
        ("it-2024-kat", "google", "udp", 6, "tpb")}
    assert dns[("it-2024-kat", "isp", "udp", 4, "kat")] == (
        "yes", 1, 1, 100.0, "2024-08-15T10:00:06Z", *NONE)
    by_domain = run(db, "leakage", "site", by="domain", order="it-2024-kat").records()
    assert [(r["resolver"], r["domain"], r["kind"], r["due"]) for r in by_domain] == [
        ("cloudflare", "thepiratebay.org", "domain", "2024-08-14"),
        ("google", "thepiratebay.org", "domain", "2024-08-14")]


def test_spillover_at_each_layer(db: ClickHouseDatabase) -> None:
    def spill(layer: str) -> dict[tuple[Value, ...], object]:
        return {(r["order"], r["country"], r["resolver"], r["site"]):
                (r["blocked"], r["total"], *_how(r))
                for r in run(db, "spillover", layer).records()}

    quad9 = ("it-2024-kat", "DE", "quad9", "tpb")
    edge = {("it-2020-kat", "DE", "cloudflare", "kat"): (1, 2, *CF),
            ("it-2024-kat", "DE", "cloudflare", "kat"): (1, 2, *CF)}
    assert spill("site") == {**edge, quad9: (1, 1, "dns", "ede", "resolver quad9")}
    assert spill("dns") == {quad9: (1, 1, "dns", "ede", "resolver quad9")}
    assert spill("web") == edge


def test_timeline_at_each_layer(db: ClickHouseDatabase) -> None:
    def days(layer: str) -> dict[tuple[Value, ...], object]:
        return {(r["day"], r["resolver"]): (r["blocked"], r["total"], r["method"])
                for r in run(db, "timeline", layer, country="IT").records()}

    site = days("site")
    # Cloudflare: reachable on D0, refused at its edge from D1 (tpb still reached)
    assert site[("2024-08-13", "cloudflare")] == (0, 1, None)
    assert site[("2024-08-15", "cloudflare")] == (2, 3, "http-451")
    # the ISP: stop page (dns) and IP drop (ip) one each; the tie goes to the later
    assert site[("2024-08-15", "isp")] == (2, 2, "ip-drop")
    assert set(site) == {("2024-08-13", "cloudflare"), ("2024-08-15", "cloudflare"),
                         ("2024-08-15", "cloudflare-doh"), ("2024-08-15", "google"),
                         ("2024-08-15", "isp"), ("2024-08-15", "quad9")}
    dns = days("dns")
    assert dns[("2024-08-15", "cloudflare")] == (0, 3, None)
    assert dns[("2024-08-15", "isp")] == (1, 2, "sinkhole")
    assert days("web")[("2024-08-15", "quad9")] == (0, 0, None)


def test_a_layer_counts_each_measurement_once(db: ClickHouseDatabase) -> None:
    """Whatever the layer, effectiveness counts the same measurements: the
    world's target rows from non-control probes, judged or not."""
    counted = sum(1 for r in layered_rows()
                  if not r.path.control and r.domain != "example.com")
    for layer in ("dns", "web", "site"):
        rows = run(db, "effectiveness", layer).records()
        assert sum(int(r["total"] or 0) + int(r["inconclusive"] or 0) for r in rows) \
            == counted, layer


def test_layer_is_checked_and_applies_only_to_layered_reports(db: ClickHouseDatabase) -> None:
    with pytest.raises(UsageError) as bad:
        Filters.parse(layer="tcp")
    assert str(bad.value) == "layer: 'tcp': expected one of dns, web, site"
    assert Filters.parse(layer=" DNS ").layer == "dns"
    for name in ("probes", "mirrors", "compliance"):
        with pytest.raises(UsageError, match="layer: does not apply"):
            run(db, name, "dns")
    # through `answer` (what the CLI and the RPC call): the status is there too
    got = answer("effectiveness", Filters(layer="web", country="IT"), db.rows)
    assert got.status.pending == 0 and got.status.measurements == len(layered_rows())
    assert got.report.records() == run(db, "effectiveness", "web", country="IT").records()


GROUPED = """
orders:
  - id: it-2024-milan
    authority: Tribunale di Milano
    issued: 2024-07-15
    deadline: 2024-08-14
    countries: [IT]
    intermediaries:
      - {name: cloudflare, resolvers: [cloudflare, cloudflare-doh], networks: [cloudflare]}
      - isp
    sites:
      - name: kat
        domains: [kickasstorrents.to]
"""


def test_leakage_knows_an_intermediarys_every_resolver(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """An intermediary named as a group owns each of its resolvers: a path over
    1.1.1.1's DoH still reaching the site is the intermediary's leak."""
    grouped = create_schema(chdb_dsn(tmp_path_factory), f"grouped{time.monotonic_ns()}")
    try:
        orders = parse_orders(GROUPED, source="grouped.yaml")
        store_orders(grouped, orders)
        # what the collector's order mirror adds (Store.replace_orders)
        grouped.insert("order_intermediaries", ["order_id", "intermediary", "resolvers",
                                                "networks"],
                       [[o.order_id, g.name, list(g.resolvers), list(g.networks)]
                        for o in orders.orders for g in o.intermediary_groups()])
        store_site_verdicts(grouped, [
            SiteRow(IT_CF_DOH, D1, KAT, OK, OK, OK), SiteRow(IT_ISP, D1, KAT, OK, OK, OK),
            SiteRow(IT_GOOGLE, D1, KAT, OK, OK, OK)])
        got = {r["resolver"]: r["intermediary"]
               for r in build_report("leakage", Filters(), grouped.rows).records()}
        assert got == {"cloudflare-doh": "yes", "isp": "yes", "google": "no"}
    finally:
        grouped.close()


def test_both_rollups_give_the_same_figures(db: ClickHouseDatabase) -> None:
    """--by asn reads layers_daily, the rest layers_sites_daily: summed over
    ASNs, the first gives the second's counts, at every layer."""
    for name, keys in (("effectiveness", ("country", "resolver", "site")),
                       ("spillover", ("order", "country", "resolver", "site"))):
        for layer in ("dns", "web", "site"):
            coarse = {tuple(r[k] for k in keys): (r["blocked"], r["total"])
                      for r in run(db, name, layer).records()}
            summed: dict[tuple[Value, ...], tuple[int, int]] = {}
            for r in run(db, name, layer, by="asn").records():
                key = tuple(r[k] for k in keys)
                b, t = summed.get(key, (0, 0))
                summed[key] = (b + int(r["blocked"] or 0), t + int(r["total"] or 0))
            assert coarse == summed, (name, layer)
