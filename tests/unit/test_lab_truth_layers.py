"""The lab world's layered ground truth (tests/lab/truthlayers.py) tells the
stories issue 13 names, computed from the world's description: Cloudflare's
451 remedy in Italy from its compliance round behind a normal DNS answer, the
stop page at both layers, the ISP's IP drop on every resolver path attributed
to the ISP's network, and nothing ever blocked in the control country or for
the control names. Pure: no daemon runs here (the lab e2e test compares the
reports with these figures)."""

from __future__ import annotations

import pytest

from tests.lab import truth, truthlayers
from tests.lab.truthlayers import LayerVerdict, Path


@pytest.fixture(scope="module")
def every() -> list[Path]:
    return truthlayers.paths()


def _milan() -> truth.EdgeBlock:
    return next(b for b in truth.EDGE_BLOCKS if b.order_id == "it-milan-2024-cloudflare")


def test_milan_remedy_is_the_edges_451_from_its_round_behind_a_normal_dns_answer(
        every: list[Path]) -> None:
    block = _milan()
    mine = [p for p in every if p.country.code == block.country
            and p.domain in block.domains and p.resolver.startswith("cloudflare")]
    assert len(mine) == len(truth.ROUNDS) * len(block.domains) * 2   # udp and dot
    for p in mine:
        assert p.dns == truthlayers.OK                       # 1.1.1.1 resolves
        if p.round.number >= block.from_round:
            assert p.web == LayerVerdict("blocked", "http", "http-451", "edge", truth.EDGE)
            assert p.site_verdict == p.web and p.site_verdict.label == "http/http-451"
            assert p.site_verdict.blocked_by == "edge cloudflare"
        else:
            assert p.web == p.site_verdict == truthlayers.OK
    # the mirror is never refused
    mirror = [p for p in every if p.domain == "kickasstorrents.cr"
              and p.country.code == block.country]
    assert mirror and all(p.site_verdict.verdict == "ok" for p in mirror
                          if p.resolver.startswith("cloudflare"))


def test_edge_refuses_whatever_resolver_named_its_address(every: list[Path]) -> None:
    block = _milan()
    for p in every:
        if (p.country.code, p.round.number >= block.from_round) == (block.country, True) \
                and p.domain in block.domains and p.dns.verdict == "ok":
            assert p.site_verdict.label == "http/http-451", (p.resolver, p.domain)


def test_stop_page_confirmed_at_both_layers(every: list[Path]) -> None:
    stop = [p for p in every if p.dns.method == "sinkhole"]
    assert stop
    for p in stop:
        assert (p.country.code, p.resolver) == ("IT", "isp")
        assert p.site_verdict.label == "dns/sinkhole"
        assert p.site_verdict.blocked_by == "resolver isp"
        assert p.confirmed_by == ("http/blockpage",)
        assert p.web == LayerVerdict("blocked", "http", "blockpage", "network", "AS3269")


def test_ip_drop_on_every_resolver_path_is_the_isps_network(every: list[Path]) -> None:
    (drop,) = truth.IP_BLOCKS
    names = {d for d in {p.domain for p in every} if truth.site_address(d) == drop.address}
    country = next(c for c in truth.COUNTRIES if c.code == drop.country)
    dropped = [p for p in every if p.domain in names and p.country is country]
    assert {p.resolver for p in dropped} == set(truth.RESOLVERS)   # DoH and DoT included
    for p in dropped:
        assert p.dns == truthlayers.OK
        assert p.site_verdict == LayerVerdict("blocked", "ip", "ip-drop", "network",
                                              f"AS{country.asn}")
    # elsewhere the address answers: never an ip-drop
    assert not [p for p in every if p.site_verdict.method == "ip-drop"
                and p.country is not country]


def test_control_country_and_control_names_never_blocked(every: list[Path]) -> None:
    for p in every:
        if p.country.control or p.purpose == "control":
            assert {p.dns.verdict, p.web.verdict, p.site_verdict.verdict} <= {"ok", "unknown"}
            assert p.site_verdict.verdict == "ok"


def test_site_is_the_first_blocking_layer(every: list[Path]) -> None:
    for p in every:
        if p.dns.verdict == "blocked":
            assert p.site_verdict == p.dns
        elif p.web.verdict == "blocked":
            assert p.site_verdict == p.web
        else:
            assert p.site_verdict.verdict == "ok"


def test_no_address_no_web_verdict(every: list[Path]) -> None:
    for p in every:
        if p.dns.method in ("ede", "nxdomain", "drop", "bogon"):
            assert p.web == truthlayers.NO_FOLLOW_UP and p.follow_ups == ()


def test_remedy_per_intermediary(every: list[Path]) -> None:
    remedies = {(r.order_id, r.intermediary): r for r in truthlayers.expected_remedies(every)}
    milan = remedies[("it-milan-2024-cloudflare", "cloudflare")]   # udp and dot: one row
    assert (milan.dns_methods, milan.edge_methods, milan.first_round) == (
        (), ("http-451",), _milan().from_round)
    assert remedies[("fr-paris-2024-canal", "google")].dns_methods == ("ede",)
    assert remedies[("fr-paris-2024-canal", "cloudflare")].edge_methods == ("http-451",)
    assert remedies[("de-hamburg-2021-quad9", "quad9")].dns_methods == ("nxdomain",)
    assert remedies[("agcom-2024-dda-101", "isp")].dns_methods == ("sinkhole",)
    assert all(r.others == () for r in remedies.values())
    assert set(remedies) == {(o.order_id, i.name) for o in truth.ORDERS
                             for i in truthlayers.intermediaries(o)}


def test_layered_figures_count_the_layer_asked_for(every: list[Path]) -> None:
    dns = {(r["country"], r["resolver"], r["site"]): r
           for r in truthlayers.expected_effectiveness("dns", every)}
    site = {(r["country"], r["resolver"], r["site"]): r
            for r in truthlayers.expected_effectiveness("site", every)}
    web = {(r["country"], r["resolver"], r["site"]): r
           for r in truthlayers.expected_effectiveness("web", every)}
    key = ("IT", "cloudflare", "thepiratebay")
    rounds_blocked = len(truth.ROUNDS) - _milan().from_round + 1
    assert (dns[key]["blocked"], dns[key]["method"]) == (0, None)
    assert (site[key]["blocked"], site[key]["layer"], site[key]["blocked_by"]) == (
        rounds_blocked, "http", "edge cloudflare")
    # the DNS-layer figures are the DNS ground truth's
    assert [{k: v for k, v in r.items() if k not in ("layer", "blocked_by")}
            for r in truthlayers.expected_effectiveness("dns", every)] == \
        truth.expected_effectiveness()
    # web layer: paths with no address to follow are inconclusive, not counted
    google = web[("IT", "google", "thepiratebay")]
    assert (google["total"], google["inconclusive"]) == (0, len(truth.ROUNDS))


def test_compliance_credits_only_the_intermediarys_own_hand(every: list[Path]) -> None:
    last = truth.ROUNDS[-1].day
    rows = {(r["order"], r["intermediary"]): r
            for r in truthlayers.expected_compliance(last, every)}
    block = _milan()
    milan = rows[(block.order_id, truth.EDGE)]
    deadline = next(o for o in truth.ORDERS if o.order_id == block.order_id).deadline
    # first blocked by its edge in the round it complied: late, with evidence (monitoring
    # began before the deadline), its DNS unchanged
    assert milan["first_blocked_round"] == block.from_round
    assert milan["days_late"] == (truth.round_by_number(block.from_round).day - deadline).days
    assert milan["remedy"] == "edge http-451, DNS unchanged"
    # Google's refusal and the ISP's drop on paths in Italy are theirs, counted apart
    assert milan["others"] == "resolver google: ede; resolver isp: drop"
    assert isinstance(milan["blocked_by_others"], int) and milan["blocked_by_others"] > 0
    # blocked when monitoring began, long after the deadline: no days late claimed
    quad9 = rows[("de-hamburg-2021-quad9", "quad9")]
    assert (quad9["status"], quad9["days_late"], quad9["remedy"]) == (
        "blocked when monitoring began", None, "DNS nxdomain")
    # one row per intermediary: cloudflare and cloudflare-dot are one
    assert {i for o, i in rows if o == block.order_id} == {truth.EDGE}


def test_compliance_by_domain_counts_a_mirror_from_its_own_day(every: list[Path]) -> None:
    last = truth.ROUNDS[-1]
    rows = {r["domain"]: r for r in truthlayers.expected_compliance(last.day, every,
                                                                     by_domain=True)
            if r["order"] == "it-milan-2024-cloudflare"}
    mirror = rows["kickasstorrents.cr"]
    assert (mirror["kind"], mirror["added"], mirror["status"], mirror["days_late"],
            mirror["total_since_deadline"], mirror["mirrors_reachable"]) == (
        "mirror", last.day.isoformat(), "never blocked", 0, 0, 1)
