"""Web and site verdicts in production storage (issue 13), in real chDB: the
collector's classify steps (DNS in the engine, web rules over stored
follow-ups, the site query) on stored measurements and web follow-ups, checked
story by story (Milan's edge 451, AGCOM's stop page at both layers, an ISP's IP
drop on every path, a lone timeout, a TLS-consistent CDN answer, no follow-up)
and against the pure rules (webverdicts.py with brute-force context,
siteverdict.py) on generated observations."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from blockwatch.analysis.controls import DEFAULT_WINDOW_US
from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.httpfingerprints import load_http_fingerprints
from blockwatch.analysis.sitesql import oracle_site_rows, store_pending_site_verdicts
from blockwatch.analysis.storage import (
    begin_reclassify,
    layers_version,
    reclassify,
    reclassify_chunk,
    reclassify_site_chunk,
    reclassify_web_chunk,
    rejudge_web_before_sites,
    store_pending_layer_verdicts,
    store_pending_verdicts,
)
from blockwatch.analysis.strength import Attempt, strengthen
from blockwatch.analysis.webobservation import WebContext
from blockwatch.analysis.webstorage import _SELECT, _latest, store_pending_web_verdicts
from blockwatch.analysis.webverdicts import classify_web
from blockwatch.collector.verdictpass import StoreDatabase
from tests.integration.analysis_world import create_schema
from tests.integration.collector_harness import chdb_dsn, running, settings_for

FPS, HFPS = load_fingerprints(), load_http_fingerprints()
T0 = dt.datetime(2024, 9, 3, 10, tzinfo=dt.UTC)
_SEQ = itertools.count(1)

KAT, TPB, FOOTY, LONE, CDN, NOFU, CONTROL = (
    "kickasstorrents.to", "thepiratebay.org", "footy.example", "lone.example",
    "cdn.example", "nofollow.example", "example.com")
EDGE, STOP_PAGE, DROPPED, LONE_ADDR = "104.21.32.10", "83.224.65.74", "172.67.190.80", \
    "104.16.5.5"
CDN_IT, CDN_CTL, NOFU_ADDR = "151.101.1.1", "199.232.1.1", "104.16.9.9"
STOP_BODY = "<html><head><title>AGCOM Stop Page</title></head><body>...</body></html>"
PAGE = "<html><head><title>Site</title></head><body>hello</body></html>"


@dataclass(frozen=True)
class Probe:
    name: str
    country: str
    asn: int
    control: bool = False


IT = Probe("it-1", "IT", 3269)
CH = Probe("ch-ctl", "CH", 559, control=True)


def _id() -> str:
    return str(uuid.UUID(int=next(_SEQ)))


@dataclass
class World:
    measurements: list[dict[str, Any]] = field(default_factory=list)
    web: list[dict[str, Any]] = field(default_factory=list)

    def dns(self, probe: Probe, resolver: str, transport: str, domain: str,
            answers: tuple[str, ...] = (), *, rcode: int | None = 0, round_id: str = "r3",
            at: dt.datetime = T0, failure: str = "none") -> str:
        mid = _id()
        self.measurements.append({
            "measurement_id": mid, "batch_id": f"b-{probe.name}-{round_id}",
            "round_id": round_id, "probe_name": probe.name, "probe_country": probe.country,
            "probe_asn": probe.asn, "probe_control": probe.control, "started_at": at,
            "received_at": at + dt.timedelta(seconds=30), "domain": domain, "qtype": 1,
            "qclass": 1, "purpose": "control" if domain == CONTROL else "target",
            "resolver_name": resolver, "resolver_address": "192.0.2.1", "resolver_port": 53,
            "transport": transport, "failure": failure,
            "response_count": 0 if rcode is None else 1, "rcode": rcode,
            "flags": 0 if rcode is None else 0x8180, "answers.name": [domain] * len(answers),
            "answers.type": [1] * len(answers), "answers.ttl": [300] * len(answers),
            "answers.data": list(answers), "authority_count": 0, "edns": True,
            "ede_codes": [], "ede_texts": []})
        return mid

    def follow(self, probe: Probe, name: str, address: str, dns_ids: list[str], *,
               port: int = 443, round_id: str = "r3", at: dt.datetime = T0,
               connect: str = "none", status: int = 200, body: str = PAGE,
               title: str = "Site", headers: tuple[tuple[str, str], ...] = (),
               valid: bool = True, received: dt.datetime | None = None) -> str:
        oid = _id()
        tls = port == 443 and connect == "none"
        sent = connect == "none"
        self.web.append({
            "observation_id": oid, "batch_id": f"w-{probe.name}-{round_id}",
            "round_id": round_id, "probe_name": probe.name, "probe_country": probe.country,
            "probe_asn": probe.asn, "probe_control": probe.control,
            "started_at": at + dt.timedelta(seconds=5),
            "received_at": received or at + dt.timedelta(seconds=40), "name": name,
            "address": address, "port": port, "scheme": "https" if port == 443 else "http",
            "dns_measurement_ids": dns_ids, "connect_failure": connect,
            "tls_attempted": tls, "tls_failure": "none" if valid else "tls_certificate",
            "has_certificate": tls, "cert_sha256": f"cert-{name}" if valid else "bad",
            "cert_sans": [name] if valid else ["other.example"], "chain_verified": tls and valid,
            "name_matches": tls and valid, "http_sent": sent, "status": status if sent else 0,
            "headers.name": [k for k, _ in headers], "headers.value": [v for _, v in headers],
            "body_sha256": f"sha-{hash(body) & 0xffff}" if sent else "",
            "body_prefix": body if sent else "", "title": title if sent else ""})
        return oid

    def store(self, db: ClickHouseDatabase) -> None:
        for table, rows in (("measurements", self.measurements), ("web_observations", self.web)):
            if rows:
                columns = list(rows[0])
                db.insert(table, columns, [[r[c] for c in columns] for r in rows])
        self.measurements, self.web = [], []


def health(w: World, probe: Probe, paths: list[tuple[str, str]], round_id: str = "r3",
           at: dt.datetime = T0) -> None:
    for resolver, transport in paths:
        w.dns(probe, resolver, transport, CONTROL, ("93.184.215.14",), round_id=round_id,
              at=at)


IT_PATHS = [("isp", "udp"), ("cloudflare", "udp"), ("cloudflare-doh", "doh")]
CF451 = (("server", "cloudflare"), ("cf-ray", "8b1c-MXP"))


def stories(w: World) -> dict[str, list[str]]:
    """The stories of the module docstring; returns the IT measurement ids per story."""
    health(w, IT, IT_PATHS)
    health(w, CH, [("cloudflare", "udp")])
    ids: dict[str, list[str]] = {}
    # Control vantage: resolves and reaches everything.
    for name, address in ((KAT, EDGE), (TPB, "162.159.1.1"), (FOOTY, DROPPED),
                          (LONE, LONE_ADDR), (CDN, CDN_CTL), (NOFU, NOFU_ADDR)):
        mid = w.dns(CH, "cloudflare", "udp", name, (address,))
        for port in (443, 80):
            w.follow(CH, name, address, [mid], port=port)
    # Milan: 1.1.1.1 resolves kat over UDP and DoH; Cloudflare's edge answers 451.
    ids["milan"] = [w.dns(IT, "cloudflare", "udp", KAT, (EDGE,)),
                    w.dns(IT, "cloudflare-doh", "doh", KAT, (EDGE,))]
    for port in (443, 80):
        w.follow(IT, KAT, EDGE, ids["milan"], port=port, status=451,
                 title="Unavailable For Legal Reasons", body="<h1>451</h1>", headers=CF451)
    # AGCOM: the ISP's resolver answers the stop page, which the follow-up shows.
    ids["agcom"] = [w.dns(IT, "isp", "udp", TPB, (STOP_PAGE,))]
    w.follow(IT, TPB, STOP_PAGE, ids["agcom"], port=80, body=STOP_BODY,
             title="AGCOM Stop Page")
    w.follow(IT, TPB, STOP_PAGE, ids["agcom"], port=443, connect="connection_refused")
    # Piracy Shield: every path resolves footy; the network drops its address.
    ids["drop"] = [w.dns(IT, r, t, FOOTY, (DROPPED,)) for r, t in IT_PATHS]
    for port in (443, 80):
        w.follow(IT, FOOTY, DROPPED, ids["drop"], port=port, connect="timeout")
    # A lone timeout: one follow-up, once.
    ids["lone"] = [w.dns(IT, "cloudflare", "udp", LONE, (LONE_ADDR,))]
    w.follow(IT, LONE, LONE_ADDR, ids["lone"], connect="timeout")
    # A CDN answer outside the control's prefixes, vouched for by its certificate.
    ids["cdn"] = [w.dns(IT, "isp", "udp", CDN, (CDN_IT,))]
    w.follow(IT, CDN, CDN_IT, ids["cdn"])
    # Resolved, never followed.
    ids["nofu"] = [w.dns(IT, "isp", "udp", NOFU, (NOFU_ADDR,))]
    return ids


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return chdb_dsn(tmp_path_factory)


_DBS = itertools.count()


@pytest.fixture
def db(dsn: str) -> Iterator[ClickHouseDatabase]:
    handle = create_schema(dsn, f"sites{next(_DBS)}")
    yield handle
    handle.close()


def run_pass(db: ClickHouseDatabase, *, web_settle_s: float = 0.0,
             now: dt.datetime | None = None) -> None:
    """What the collector's background pass does: DNS, then web, then sites."""
    now_us = int((now or dt.datetime.now(dt.UTC)).timestamp() * 1e6)
    while store_pending_verdicts(db, FPS, now_us=now_us).measurements:
        pass
    store_pending_layer_verdicts(db, FPS, HFPS, web_settle_s=web_settle_s, now_us=now_us)


SITE_FIELDS = ("dns_verdict", "dns_method", "dns_rule", "web_verdict", "web_method",
               "web_rule", "web_layer", "web_party", "web_operator", "verdict", "layer",
               "method", "party", "operator", "confirmed_by")


def sites(db: ClickHouseDatabase) -> dict[str, dict[str, Any]]:
    cols = ", ".join(f"toString({c})" if c not in ("confirmed_by",) else c
                     for c in SITE_FIELDS)
    rows = db.rows(f"SELECT toString(measurement_id), {cols}, "
                   "arrayMap(i -> toString(i), web_observation_ids), round_id "
                   "FROM site_verdicts FINAL")
    return {r[0]: {**dict(zip(SITE_FIELDS, r[1:-2], strict=True)),
                   "web_observation_ids": list(r[-2]), "round_id": r[-1]} for r in rows}


def assert_sites_are_the_oracles(db: ClickHouseDatabase, got: dict[str, dict[str, Any]]
                                 ) -> None:
    """Every stored site verdict (`sites`) is what siteverdict.py makes of the
    stored DNS and web verdicts, and there is one for every DNS verdict."""
    want = oracle_site_rows(db, "1", {})
    assert set(got) == set(want)
    for mid, row in want.items():
        mine = {k: got[mid][k] for k in row if k != "measurement_id"}
        assert mine == {k: v for k, v in row.items() if k != "measurement_id"}, mid


def test_milan_edge_451_behind_a_normal_answer_is_the_edges_block(
        db: ClickHouseDatabase) -> None:
    w = World()
    ids = stories(w)
    w.store(db)
    run_pass(db)
    got = sites(db)
    for mid in ids["milan"]:
        s = got[mid]
        assert (s["dns_verdict"], s["web_verdict"], s["web_layer"], s["web_method"]) == (
            "ok", "blocked", "http", "http-451")
        assert (s["verdict"], s["layer"], s["method"], s["party"], s["operator"]) == (
            "blocked", "http", "http-451", "edge", "cloudflare")
        assert len(s["web_observation_ids"]) == 2 and s["round_id"] == "r3"


def test_agcom_stop_page_is_blocked_at_dns_and_confirmed_by_the_block_page(
        db: ClickHouseDatabase) -> None:
    w = World()
    ids = stories(w)
    w.store(db)
    run_pass(db)
    s = sites(db)[ids["agcom"][0]]
    assert (s["dns_verdict"], s["dns_method"], s["verdict"], s["layer"], s["method"],
            s["party"], s["operator"]) == ("blocked", "sinkhole", "blocked", "dns",
                                           "sinkhole", "resolver", "isp")
    assert s["confirmed_by"] == ["http/blockpage"]
    assert (s["web_verdict"], s["web_method"], s["web_party"]) == ("blocked", "blockpage",
                                                                    "network")


def test_isp_ip_drop_is_the_networks_on_every_path_doh_included(
        db: ClickHouseDatabase) -> None:
    w = World()
    ids = stories(w)
    w.store(db)
    run_pass(db)
    got = sites(db)
    assert len(ids["drop"]) == 3
    for mid in ids["drop"]:
        s = got[mid]
        assert (s["dns_verdict"], s["verdict"], s["layer"], s["method"], s["party"],
                s["operator"]) == ("ok", "blocked", "ip", "ip-drop", "network", "AS3269")
    web = dict(db.rows("SELECT toString(port), toString(verdict) FROM web_verdicts FINAL "
                       "WHERE name = {n:String} AND probe_name = 'it-1'", {"n": FOOTY}))
    assert web == {"443": "blocked", "80": "blocked"}   # each corroborates the other


def test_a_single_timeout_does_not_convict(db: ClickHouseDatabase) -> None:
    w = World()
    ids = stories(w)
    w.store(db)
    run_pass(db)
    s = sites(db)[ids["lone"][0]]
    assert (s["web_verdict"], s["web_method"], s["verdict"], s["layer"], s["party"]) == (
        "suspect", "ip-drop", "suspect", "ip", "network")


def test_tls_consistent_cdn_answer_is_ok_at_the_dns_layer(db: ClickHouseDatabase) -> None:
    w = World()
    ids = stories(w)
    w.store(db)
    run_pass(db)
    s = sites(db)[ids["cdn"][0]]
    dns = db.rows("SELECT toString(verdict), rule FROM verdicts WHERE measurement_id = "
                  "{m:UUID}", {"m": ids["cdn"][0]})
    assert dns == [("suspect", "answer_differs_from_control")]
    assert (s["dns_verdict"], s["dns_rule"], s["verdict"]) == ("ok", "tls_consistent_answer",
                                                               "ok")


def test_an_invalid_certificate_keeps_the_cdn_answer_suspect(db: ClickHouseDatabase) -> None:
    w = World()
    health(w, IT, IT_PATHS)
    ctl = w.dns(CH, "cloudflare", "udp", CDN, (CDN_CTL,))
    w.follow(CH, CDN, CDN_CTL, [ctl])
    mid = w.dns(IT, "isp", "udp", CDN, (CDN_IT,))
    w.follow(IT, CDN, CDN_IT, [mid], valid=False)
    w.store(db)
    run_pass(db)
    s = sites(db)[mid]
    assert (s["dns_verdict"], s["dns_rule"]) == ("suspect", "answer_differs_from_control")
    assert (s["web_verdict"], s["web_method"], s["verdict"], s["layer"]) == (
        "blocked", "tls-interference", "blocked", "tls")


def test_no_follow_up_leaves_the_site_to_dns(db: ClickHouseDatabase) -> None:
    w = World()
    ids = stories(w)
    w.store(db)
    run_pass(db)
    s = sites(db)[ids["nofu"][0]]
    assert (s["dns_verdict"], s["web_verdict"], s["web_rule"], s["verdict"], s["layer"]) == (
        "ok", "unknown", "no_follow_up", "ok", "")


def test_a_site_verdict_waits_for_follow_ups_up_to_web_settle(
        db: ClickHouseDatabase) -> None:
    w = World()
    health(w, IT, IT_PATHS)
    health(w, CH, [("cloudflare", "udp")])
    ctl = w.dns(CH, "cloudflare", "udp", KAT, (EDGE,))
    w.follow(CH, KAT, EDGE, [ctl])
    mid = w.dns(IT, "cloudflare", "udp", KAT, (EDGE,))
    w.store(db)
    dns_received = T0 + dt.timedelta(seconds=30)
    # The DNS arrived 60 s ago; follow-ups get 120 s: no site verdict yet.
    run_pass(db, web_settle_s=120, now=dns_received + dt.timedelta(seconds=60))
    assert mid not in sites(db)
    # The edge's 451 arrives in a later batch, within web_settle_s.
    w.follow(IT, KAT, EDGE, [mid], status=451, headers=CF451,
             received=dns_received + dt.timedelta(seconds=90))
    w.store(db)
    run_pass(db, web_settle_s=120, now=dns_received + dt.timedelta(seconds=110))
    assert mid not in sites(db)      # follow-ups have until +120 s to arrive
    run_pass(db, web_settle_s=120, now=dns_received + dt.timedelta(seconds=125))
    assert sites(db)[mid]["verdict"] == "blocked"
    assert sites(db)[mid]["method"] == "http-451"


def _snapshot(db: ClickHouseDatabase) -> tuple[Any, ...]:
    site = db.rows("SELECT * EXCEPT classified_at FROM site_verdicts FINAL ORDER BY "
                   "measurement_id")
    web = db.rows("SELECT * EXCEPT classified_at FROM web_verdicts FINAL ORDER BY "
                  "observation_id")
    daily = db.rows("SELECT layer, day, resolver_name, domain, toString(verdict), "
                    "toString(site_layer), method, toString(party), operator, "
                    "sum(measurements) FROM layers_daily GROUP BY ALL ORDER BY ALL")
    return site, web, daily


def test_reclassify_writes_the_same_layers_again_and_the_rollup_once(
        db: ClickHouseDatabase) -> None:
    w = World()
    stories(w)
    w.store(db)
    run_pass(db)
    before = _snapshot(db)
    n_sites = len(before[0])
    assert n_sites == int(db.rows("SELECT count() FROM verdicts FINAL")[0][0])
    assert sum(int(r[-1]) for r in before[2]) == 3 * n_sites
    for rows in (200_000, 200_000, 3):     # again; and a few rows in memory at a time
        reclassify(db, FPS, http_fingerprints=HFPS, max_rows=rows)
        assert _snapshot(db) == before
    milan = [r for r in before[2] if r[3] == KAT and r[2] == "cloudflare-doh"]
    assert {(r[0], r[4], r[5], r[6], r[7], r[8]) for r in milan} == {
        ("dns", "ok", "", "", "", ""),
        ("web", "blocked", "http", "http-451", "edge", "cloudflare"),
        ("site", "blocked", "http", "http-451", "edge", "cloudflare")}


def test_the_next_rounds_timeout_corroborates_a_lone_ip_drop_on_reclassify(
        db: ClickHouseDatabase) -> None:
    w = World()
    stories(w)
    w.store(db)
    run_pass(db)
    later = T0 + dt.timedelta(hours=1)
    ctl = w.dns(CH, "cloudflare", "udp", LONE, (LONE_ADDR,), round_id="c4", at=later)
    w.follow(CH, LONE, LONE_ADDR, [ctl], round_id="c4", at=later)
    mid = w.dns(IT, "cloudflare", "udp", LONE, (LONE_ADDR,), round_id="r4", at=later)
    w.follow(IT, LONE, LONE_ADDR, [mid], round_id="r4", at=later, connect="timeout")
    w.store(db)
    run_pass(db)
    lone = "SELECT round_id, toString(verdict) FROM web_verdicts FINAL WHERE name = " \
        "{n:String} AND probe_name = 'it-1' ORDER BY round_id"
    # r4 is corroborated by r3 at once; r3 was written before r4 existed.
    assert db.rows(lone, {"n": LONE}) == [("r3", "suspect"), ("r4", "blocked")]
    reclassify(db, FPS, http_fingerprints=HFPS)
    assert db.rows(lone, {"n": LONE}) == [("r3", "blocked"), ("r4", "blocked")]


# -- production == the pure rules, on generated observations ---------------

def _oracle_web(db: ClickHouseDatabase) -> dict[str, tuple[str, str, str, str]]:
    """Every follow-up judged by webverdicts.classify_web with its context
    built by brute force over everything stored, then strength.strengthen."""
    items = _latest(db.rows(_SELECT))
    raw = {}
    for s in items:
        web = s.web
        controls = tuple(sorted(
            (c.web for c in items if c.web.probe_control and c.web.name == web.name
             and abs(c.web.started_at_us - web.started_at_us) <= DEFAULT_WINDOW_US
             and c.web.observation_id != web.observation_id),
            key=lambda c: (c.started_at_us, c.observation_id)))
        mates = [o.web for o in items if (o.web.probe_name, o.web.round_id) ==
                 (web.probe_name, web.round_id) and o.web.connected]
        ctx = WebContext(controls, any(m.address == web.address for m in mates),
                         any(m.name != web.name for m in mates))
        raw[web.observation_id] = (s, classify_web(web, ctx, HFPS))
    firsts: dict[str, dict[str, int]] = {}
    for s in items:
        rounds = firsts.setdefault(s.web.probe_name, {})
        rounds[s.web.round_id] = min(rounds.get(s.web.round_id, s.web.started_at_us),
                                     s.web.started_at_us)
    order = {p: {r: i for i, r in enumerate(sorted(rs, key=lambda r: (rs[r], r)))}
             for p, rs in firsts.items()}
    out = {}
    for oid, (s, v) in raw.items():
        def attempt(x: Any, vx: Any) -> Attempt:
            return Attempt(order[x.web.probe_name][x.web.round_id], vx.status,
                           str(vx.method), x.web.address, x.web.observation_id)
        history = [attempt(x, vx) for x, vx in raw.values()
                   if (x.web.probe_name, x.web.name) == (s.web.probe_name, s.web.name)]
        status = strengthen(attempt(s, v), history)
        out[oid] = (str(status), str(v.method), str(v.rule), v.evidence.fingerprint)
    return out


def _generated(rng: random.Random, w: World) -> None:
    probes = [IT, Probe("it-2", "IT", 30722), Probe("de-1", "DE", 3320), CH,
              Probe("nl-ctl", "NL", 1136, control=True)]
    names = [KAT, TPB, FOOTY, CDN, LONE]
    addresses = [EDGE, STOP_PAGE, DROPPED, CDN_IT, CDN_CTL, "104.16.1.1"]
    for probe in probes:
        paths = [("isp", "udp"), ("cloudflare", "udp"), ("cloudflare-doh", "doh")]
        for rnd in range(3):
            at = T0 + dt.timedelta(hours=rnd, minutes=rng.randrange(0, 20))
            round_id = f"{probe.name}-r{rnd}"
            health(w, probe, paths, round_id, at)
            for name in rng.sample(names, 3):
                mids: dict[str, list[str]] = {}
                for resolver, transport in rng.sample(paths, rng.choice([1, 2, 3])):
                    kind = rng.random()
                    if kind < 0.15:
                        w.dns(probe, resolver, transport, name, (), rcode=None,
                              failure="timeout", round_id=round_id, at=at)
                        continue
                    address = rng.choice(addresses)
                    mids.setdefault(address, []).append(
                        w.dns(probe, resolver, transport, name, (address,),
                              round_id=round_id, at=at))
                for address, ids in mids.items():
                    if rng.random() < 0.15:
                        continue     # not followed
                    for port in rng.sample([443, 80], rng.choice([1, 2])):
                        how = rng.choice(["ok", "ok", "451", "stop", "timeout", "refused",
                                          "reset", "badcert", "other"])
                        w.follow(
                            probe, name, address, ids, port=port, round_id=round_id, at=at,
                            connect={"timeout": "timeout", "refused": "connection_refused",
                                     "reset": "connection_reset"}.get(how, "none"),
                            status=451 if how == "451" else 200,
                            headers=CF451 if how == "451" and rng.random() < 0.7 else (),
                            body=STOP_BODY if how == "stop" else
                            ("<p>elsewhere</p>" if how == "other" else PAGE),
                            title="Other" if how == "other" else "Site",
                            valid=how != "badcert")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_production_equals_the_pure_rules_on_generated_observations(
        db: ClickHouseDatabase, seed: int) -> None:
    rng = random.Random(seed)
    w = World()
    _generated(rng, w)
    w.store(db)
    run_pass(db)
    got_web = {r[0]: tuple(r[1:]) for r in db.rows(
        "SELECT toString(observation_id), toString(verdict), toString(method), rule, "
        "fingerprint FROM web_verdicts FINAL")}
    want_web = _oracle_web(db)
    assert got_web == want_web
    statuses = {v[0] for v in want_web.values()}
    assert {"ok", "blocked", "suspect"} <= statuses, statuses   # the generator reaches them
    got = sites(db)
    assert_sites_are_the_oracles(db, got)
    layers = {r["layer"] for r in got.values() if r["verdict"] in ("blocked", "suspect")}
    assert {"dns", "http"} <= layers and layers & {"ip", "tcp", "tls"}, layers
    if seed == 1:
        # Reclassified with a few follow-ups in memory at a time: every
        # neighbouring round now exists, so the oracle sees the same history.
        reclassify(db, FPS, http_fingerprints=HFPS, max_rows=3)
        assert {r[0]: tuple(r[1:]) for r in db.rows(
            "SELECT toString(observation_id), toString(verdict), toString(method), rule, "
            "fingerprint FROM web_verdicts FINAL")} == want_web
        assert sites(db) == got


def test_a_reclassify_beside_the_live_pass_leaves_no_measurement_without_its_site_verdict(
        db: ClickHouseDatabase) -> None:
    """As the collector interleaves them (verdictpass.py): a reclassify begins
    while the latest round has DNS and web verdicts but no site verdict yet
    (its follow-ups had `web_settle_s` to come); the live pass goes on above
    the reclassify's marks meanwhile. Every measurement ends with the site
    verdict the rules give. Before, that round's DNS verdicts were the
    reclassify's to write again and its site verdicts the live pass's, which
    had moved past them by then: they never got one."""
    w = World()
    rounds = [("r1", T0), ("r2", T0 + dt.timedelta(minutes=2)),
              ("r3", T0 + dt.timedelta(minutes=4))]
    for rnd, at in rounds:
        for name, address in ((KAT, EDGE), (FOOTY, DROPPED)):
            ctl = w.dns(CH, "cloudflare", "udp", name, (address,), round_id=f"c-{rnd}", at=at)
            w.follow(CH, name, address, [ctl], round_id=f"c-{rnd}", at=at)
        mine = w.dns(IT, "cloudflare", "udp", KAT, (EDGE,), round_id=rnd, at=at)
        w.follow(IT, KAT, EDGE, [mine], round_id=rnd, at=at, status=451, headers=CF451)
        mine = w.dns(IT, "isp", "udp", FOOTY, (DROPPED,), round_id=rnd, at=at)
        w.follow(IT, FOOTY, DROPPED, [mine], round_id=rnd, at=at, connect="timeout")
        if rnd == "r2":
            w.store(db)
    version = layers_version(FPS, HFPS)
    now_us = int(dt.datetime.now(dt.UTC).timestamp() * 1e6)
    r1_received = int((T0 + dt.timedelta(seconds=40)).timestamp() * 1e6)
    # r1 and r2 judged DNS and web; sites only for r1 (r2's follow-ups may still come)
    store_pending_verdicts(db, FPS, now_us=now_us)
    store_pending_web_verdicts(db, HFPS, settle_s=0, now_us=now_us)
    store_pending_site_verdicts(db, version, cutoff_us=r1_received)
    plan = begin_reclassify(db, None)
    w.store(db)   # r3 arrives; the live pass takes it above the marks
    store_pending_verdicts(db, FPS, now_us=now_us, floor_us=plan.mark_us)
    store_pending_web_verdicts(db, HFPS, settle_s=0, now_us=now_us, floor_us=plan.web_mark_us)
    store_pending_site_verdicts(db, version, cutoff_us=now_us, floor_us=plan.site_mark_us)
    for chunk in plan.chunks:
        reclassify_chunk(db, FPS, plan, chunk)
    for chunk in plan.web_chunks:
        reclassify_web_chunk(db, HFPS, plan, chunk)
    while not rejudge_web_before_sites(db, HFPS, plan):
        pass
    for chunk in plan.site_chunks:
        reclassify_site_chunk(db, FPS, HFPS, plan, chunk)
    run_pass(db)   # the reclassify's catch-up, floors gone
    n = int(db.rows("SELECT count() FROM measurements")[0][0])
    got = sites(db)
    assert len(got) == n == 12
    assert_sites_are_the_oracles(db, got)


# -- in the collector: the background pass and a reclassify, on the lane ----

def test_the_collectors_pass_and_reclassify_write_every_layer(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = settings_for(chdb_dsn(tmp_path_factory), tmp_path, settle_s=0.0,
                                web_settle_s=0.0)
        async with running(settings) as collector:
            w = World()
            ids = stories(w)
            store = StoreDatabase(collector.writer.store)
            for table, rows in (("measurements", w.measurements),
                                ("web_observations", w.web)):
                columns = list(rows[0])
                await collector.writer.call(store.insert, table, columns,
                                            [[r[c] for c in columns] for r in rows])

            async def count(sql: str) -> int:
                rows = await collector.writer.call(store.rows, sql)
                return int(rows[0][0])

            await collector.verdict_pass.run_once()
            n = await count("SELECT count() FROM verdicts FINAL")
            assert n == len(w.measurements)
            assert await count("SELECT count() FROM web_verdicts FINAL") == len(w.web)
            assert await count("SELECT count() FROM site_verdicts FINAL") == n
            milan = "SELECT count() FROM site_verdicts FINAL WHERE verdict = 'blocked' AND " \
                f"layer = 'http' AND operator = 'cloudflare' AND measurement_id IN " \
                f"({', '.join(repr(i) for i in ids['milan'])})"
            assert await count(milan) == 2
            await collector.verdict_pass.reclassify(None)
            assert await count("SELECT count() FROM site_verdicts FINAL") == n
            assert await count("SELECT count() FROM web_verdicts FINAL") == len(w.web)
            assert await count("SELECT sum(measurements) FROM layers_daily") == 3 * n
            assert await count(milan) == 2

    asyncio.run(scenario())


def test_a_round_ten_hours_earlier_corroborates_with_its_own_controls(
        db: ClickHouseDatabase) -> None:
    w = World()
    earlier = T0 - dt.timedelta(hours=10)    # the probe was offline in between
    for at, rnd in ((earlier, "r2"), (T0, "r3")):
        ctl = w.dns(CH, "cloudflare", "udp", LONE, (LONE_ADDR,), round_id=f"c-{rnd}", at=at)
        w.follow(CH, LONE, LONE_ADDR, [ctl], round_id=f"c-{rnd}", at=at)
        mid = w.dns(IT, "cloudflare", "udp", LONE, (LONE_ADDR,), round_id=rnd, at=at)
        w.follow(IT, LONE, LONE_ADDR, [mid], round_id=rnd, at=at, connect="timeout")
        w.store(db)
        run_pass(db)      # each round judged as it arrives
    lone = "SELECT round_id, toString(verdict) FROM web_verdicts FINAL WHERE name = " \
        "{n:String} AND probe_name = 'it-1' ORDER BY round_id"
    assert db.rows(lone, {"n": LONE}) == [("r2", "suspect"), ("r3", "blocked")]


def test_copies_of_judged_follow_ups_are_stepped_over_not_judged_again(
        db: ClickHouseDatabase) -> None:
    w = World()
    stories(w)
    copies = [{**r, "batch_id": "replay", "received_at": r["received_at"]
               + dt.timedelta(minutes=5)} for r in w.web]
    w.store(db)
    run_pass(db)
    before = int(db.rows("SELECT count() FROM web_verdicts")[0][0])
    db.insert("web_observations", list(copies[0]), [list(r.values()) for r in copies])
    now_us = int(dt.datetime.now(dt.UTC).timestamp() * 1e6)
    for _ in range(len(copies) + 1):    # two copies a chunk: never stuck on them
        if not store_pending_web_verdicts(db, HFPS, settle_s=0, now_us=now_us,
                                          max_rows=2).observations:
            break
    assert int(db.rows("SELECT count() FROM web_verdicts")[0][0]) == before
    assert store_pending_web_verdicts(db, HFPS, settle_s=0, now_us=now_us, max_rows=2) \
        .frontier_us == now_us


def test_follow_ups_uploaded_by_a_probe_get_web_and_site_verdicts(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """The whole path: a probe's spool, the Submit stream, ingest, the pass."""
    from dataclasses import replace

    from blockwatch.collector.registry import Registry
    from blockwatch.probe.spool import Spool
    from blockwatch.probe.webobservation import ConnectStep, HttpStep, TlsStep
    from blockwatch.probe.webobservation import WebObservation as ProbeWeb
    from blockwatch.probe.wire import encode_measurement, encode_web_observation
    from tests.integration.collector_harness import drain, measurement, uploader

    async def scenario() -> None:
        settings = settings_for(chdb_dsn(tmp_path_factory), tmp_path, settle_s=0.0,
                                web_settle_s=0.0)
        async with running(settings) as collector:
            token = Registry(settings.registry_path).add("probe", "probe-it", country="IT")
            m = measurement(7, domain=KAT)
            reply = m.responses[0]
            m = replace(m, responses=[replace(reply, answers=(
                replace(reply.answers[0], data=EDGE),))])
            address = EDGE
            legal = HttpStep(url=f"https://{KAT}/", duration_us=900, status=451,
                             headers=(("server", "cloudflare"), ("cf-ray", "8b1c-MXP")),
                             body_length=12, body_prefix=b"<h1>451</h1>",
                             title="Unavailable For Legal Reasons")
            webs = [ProbeWeb(observation_id=uuid.uuid4().bytes, round_id="r1",
                             started_at_us=m.started_at_us + 2_000_000, duration_us=3000,
                             name=KAT, address=address, port=port,
                             scheme="https" if port == 443 else "http",
                             dns_measurement_ids=(m.measurement_id,),
                             connect=ConnectStep(500),
                             tls=TlsStep(700, chain_verified=True, name_matches=True)
                             if port == 443 else None, http=legal)
                    for port in (443, 80)]
            spool = Spool(tmp_path / "spool.db")
            spool.add([encode_measurement(m)], [encode_web_observation(w) for w in webs])
            stats = await drain(uploader(spool, f"unix:{settings.unix}", token))
            assert stats.measurements_acked >= 1
            store = StoreDatabase(collector.writer.store)
            await collector.verdict_pass.run_once()
            rows = await collector.writer.call(
                store.rows, "SELECT toString(verdict), layer, method, toString(party), "
                "operator, length(web_observation_ids) FROM site_verdicts FINAL")
            assert rows == [("blocked", "http", "http-451", "edge", "cloudflare", 2)]

    asyncio.run(scenario())
