"""End to end over the multi-country lab world: the collector on embedded chDB,
one probe per country in its own network namespace, five rounds on simulated
dates with policy switches between them, then every report figure checked
against the figures the ground truth (tests/lab/truth.py) implies.

The probes follow their answers to the world's web servers (web follow-up on,
the default): what the collector stored of it is checked against the web
behaviours the ground truth writes down (Cloudflare's edge answering 451 in
Italy from its compliance round while 1.1.1.1 resolves, AGCOM's stop page and
its certificate, the Piracy Shield drop on every resolver path, a redirect to a
mirror, a certificate naming the mirror). The layered reports (issue 13) are
read at every layer (`--layer dns|web|site`) and equal the figures
tests/lab/truthlayers.py computes from the world: at the DNS layer Cloudflare
never blocks; at the site layer its edge's 451 blocks the Milan sites in Italy
from its compliance round whatever the resolver, the stop page is the ISP's DNS
(confirmed by the page), the Piracy Shield drop is the ISP's network on every
path. Compliance credits each intermediary (Cloudflare's resolvers and edge are
one) only with blocks by its own hand, with the remedy observed.

Mirror discovery is on (issue 14): probes measure candidates at a bounded share
of each round; `report mirrors` must propose every true mirror with its
evidence and never the unrelated variant (tests/lab/truthmirrors.py), and an
analyst's `targets approve` (round 5) makes compliance count the mirror from
that day. Which candidates a round measured is the collector's schedule: read
from the probes' output, checked against its bound, and fed to the ground
truth's functions, which say what those measurements show.

One campaign runs for the whole module; each test checks one report or
property of its result.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.lab import truth, truthlayers, truthmirrors
from tests.lab.campaign import (
    RoundResult,
    campaign,
    faketime_library,
    report_db,
    started_round,
    stored,
)
from tests.lab.demo import milan_story
from tests.lab.process import missing_programs
from tests.lab.zones import STOP_PAGE_AGCOM

pytestmark = pytest.mark.lab

Rows = list[dict[str, Any]]
LAST_DAY = truth.ROUNDS[-1].day.isoformat()
# the layered reports (--layer dns|web|site; default site) are read at every layer,
# as "<report>:<layer>"; the default layer once more under the report's own name
LAYERED = ("effectiveness", "leakage", "spillover", "timeline")
REPORTS = ("effectiveness", "compliance", "probes", "mirrors")
MILAN = "it-milan-2024-cloudflare"
# the round before the analyst's approval: `report mirrors` still proposes it then
BEFORE_APPROVAL = min(r.number for r in truth.ROUNDS if truth.approvals(r.number)) - 1


@dataclass(frozen=True)
class Outcome:
    rounds: list[RoundResult]
    reclassified: dict[str, Any]
    reports: dict[str, Rows]          # through the collector's Reports RPC, while it serves
    after_stop: dict[str, Rows]       # the same reports with --db once it stopped
    control_only: Rows                # effectiveness --country <control country>
    stored: dict[str, Any]
    recorded: dict[str, list[str]]
    recorded_web: dict[str, list[str]]
    png: bytes
    html: Path
    seconds: float
    candidates: dict[int, dict[str, frozenset[str]]]   # round -> probe -> measured
    mirrors_before: Rows              # report mirrors after round BEFORE_APPROVAL
    approved: list[str]               # what `targets approve` printed
    story: list[str]                  # the demo's Milan story, told from the reports

    @functools.cached_property
    def paths(self) -> list[truthlayers.Path]:
        """Every path the probes measured, at every layer, as the ground truth has it."""
        return truthlayers.paths(self.plan)

    @property
    def plan(self) -> truth.CandidatePlan:
        """Round -> the candidates the probes measured (the same for every probe)."""
        return {r: frozenset().union(*by_probe.values())
                for r, by_probe in self.candidates.items()}


@pytest.fixture(scope="module")
def outcome(isolated: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    missing = missing_programs("nsd", "unbound", "kresd", "ip", "nginx", "nft")
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    if faketime_library() is None:
        pytest.skip("libfaketime not installed (Debian package faketime)")
    root = tmp_path_factory.mktemp("world")
    started = time.monotonic()
    mirrors_before: Rows = []
    with campaign(root) as c:

        def on_round(result: RoundResult) -> None:
            if result.round.number == BEFORE_APPROVAL:
                mirrors_before.extend(c.report("mirrors", "--wait", "--wait-timeout", "240"))

        c.run_all(on_round)
        c.wait_classified()
        reclassified = c.reclassify()
        # --until: "days late" of an intermediary that never blocked counts to the
        # last simulated day, not to the real today.
        reports = c.reports({name: [name, "--until", LAST_DAY] for name in REPORTS}
                            | {f"{name}:{layer}": [name, "--layer", layer, "--until", LAST_DAY]
                               for name in LAYERED for layer in truthlayers.LAYERS}
                            | {"control": ["effectiveness", "--country", truth.CONTROL_COUNTRY],
                               "italy": ["effectiveness", "--country", "Italy", "--until",
                                         LAST_DAY],
                               "milan_domains": ["compliance", "--order", MILAN, "--by",
                                                 "domain", "--until", LAST_DAY]})
        png = root / "timeline.png"
        c.analyst("report", "timeline", "--png", str(png))
        html = Path(c.analyst("report", "html", "--out", str(root / "html")).strip())
        control_only = reports["control"]
        story = milan_story(c)
        c.stop_collector()
        db = c.data / "db"
        after = {name: report_db(db, name, "--until", LAST_DAY)
                 for name in ("effectiveness", "compliance")}
        yield Outcome(c.rounds, reclassified, reports, after, control_only, stored(db),
                      c.recorded_ids(), c.recorded_web_ids(), png.read_bytes(), html,
                      time.monotonic() - started, c.candidates_measured(), mirrors_before,
                      c.approved, story)


def test_ground_truth_is_consistent() -> None:
    assert truth.consistency_problems() == []


def _rows(rows: Rows, *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {tuple(r[k] for k in keys): r for r in rows}
    assert len(out) == len(rows), f"duplicate rows for {keys}"
    return out


# -- the probes recorded what the world implies, and the collector kept all of it once -------


def test_each_probe_measured_its_assignment_every_round(outcome: Outcome) -> None:
    expected = Counter((e.round.number, e.country.probe)
                       for e in truth.expected_measurements(outcome.plan))
    for result in outcome.rounds:
        for probe, observations in result.measurements.items():
            assert len(observations) == expected[(result.round.number, probe)], probe
            assert "0 left in the spool" in result.stderr[probe]
            # Stamped at the round's simulated date (libfaketime), not today.
            days = {o["started_at"][:10] for o in observations}
            assert days == {result.round.day.isoformat()}, (probe, days)


def test_every_recorded_measurement_stored_exactly_once(outcome: Outcome) -> None:
    stored_ids = outcome.stored["ids"]
    assert set(stored_ids) == set(outcome.recorded)
    for probe, recorded in outcome.recorded.items():
        assert len(recorded) == len(set(recorded)), f"{probe} printed an id twice"
        rows = stored_ids[probe]
        assert len(rows) == len(set(rows)), f"{probe}: a measurement stored twice"
        assert sorted(rows) == sorted(recorded), f"{probe}: stored ids differ from recorded"
    total = sum(len(v) for v in outcome.recorded.values())
    assert total == len(truth.expected_measurements(outcome.plan))
    # Every stored measurement got exactly one verdict.
    assert outcome.stored["verdicts"] == outcome.stored["verdict_ids"] == total
    assert outcome.reclassified["measurements"] == total


def test_policy_switches_happened_between_rounds(outcome: Outcome) -> None:
    changed = {r.round.number: r.changes for r in outcome.rounds}
    for number in (2, 3, 4, 5):
        for country, operator in truth.policy_changes(number):
            assert any(line.startswith(f"{country} {operator}:") for line in changed[number])
        for country in truth.web_changes(number):
            assert any(line.startswith(f"{country} web:") for line in changed[number])
    assert truth.web_changes(3) == ["IT"]     # the edge's compliance date


# -- every report figure equals the ground truth's --------------------------------------------


@pytest.mark.parametrize("layer", truthlayers.LAYERS)
def test_effectiveness_per_country_resolver_site(outcome: Outcome, layer: str) -> None:
    got = _rows(outcome.reports[f"effectiveness:{layer}"], "country", "resolver", "site")
    want = _rows(truthlayers.expected_effectiveness(layer, outcome.paths), "country",
                 "resolver", "site")
    assert got.keys() == want.keys()
    for key, row in want.items():
        assert got[key] == row, (layer, key)


def test_default_layer_is_the_site(outcome: Outcome) -> None:
    assert outcome.reports["effectiveness"] == outcome.reports["effectiveness:site"] != []
    # the DNS layer alone is what the DNS ground truth says (method: the DNS method)
    dns = [{k: v for k, v in r.items() if k not in ("layer", "blocked_by")}
           for r in outcome.reports["effectiveness:dns"]]
    assert dns == truth.expected_effectiveness()


def test_layer_stories(outcome: Outcome) -> None:
    """Issue 13's stories, as an analyst reads them in the reports."""
    site = _rows(outcome.reports["effectiveness:site"], "country", "resolver", "site")
    web = _rows(outcome.reports["effectiveness:web"], "country", "resolver", "site")
    dns = _rows(outcome.reports["effectiveness:dns"], "country", "resolver", "site")
    # Milan: 1.1.1.1 resolves (DNS never blocks); the edge answers 451 from its round
    block = next(b for b in truth.EDGE_BLOCKS if b.order_id == MILAN)
    rounds_blocked = len(truth.ROUNDS) - block.from_round + 1
    for resolver in _order(MILAN).intermediaries:
        for name in ("limetorrents", "thepiratebay"):
            key = (block.country, resolver, name)
            assert dns[key]["blocked"] == 0
            assert (site[key]["blocked"], site[key]["layer"], site[key]["method"],
                    site[key]["blocked_by"]) == (rounds_blocked, "http", "http-451",
                                                 "edge cloudflare"), key
    leak = _rows(outcome.reports["leakage:site"], "order", "country", "resolver", "site")
    for resolver in _order(MILAN).intermediaries:
        row = leak[(MILAN, block.country, resolver, "thepiratebay")]
        # reached until the round before the edge complied, not after
        assert started_round(row["last_reached"]) == block.from_round - 1, resolver
    # the stop page, at both layers: the ISP's DNS, the page interposed in its network
    it = next(c for c in truth.COUNTRIES if c.code == "IT")
    stop = ("IT", "isp", "ilcorsaronero")
    assert (site[stop]["method"], site[stop]["blocked_by"]) == ("sinkhole", "resolver isp")
    assert (web[stop]["method"], web[stop]["blocked_by"]) == ("blockpage", f"network AS{it.asn}")
    # Piracy Shield: the ISP's network drops the address on every resolver path
    for resolver in truth.RESOLVERS:
        row = site[("IT", resolver, "footybite")]
        assert (row["blocked"], row["method"], row["blocked_by"]) == (
            row["total"], "ip-drop", f"network AS{it.asn}"), resolver


def _compliance(rows: Rows, *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Compliance rows with `first_blocked` as the round it fell in."""
    out = {}
    for key, row in _rows(rows, *keys).items():
        actual = dict(row)
        first = actual.pop("first_blocked")
        actual["first_blocked_round"] = started_round(first) if first else None
        out[key] = actual
    return out


def test_compliance_date_found_to_the_round(outcome: Outcome) -> None:
    got = _compliance(outcome.reports["compliance"], "order", "intermediary")
    want = _rows(truthlayers.expected_compliance(truth.ROUNDS[-1].day, outcome.paths),
                 "order", "intermediary")
    assert got.keys() == want.keys()
    for key, row in want.items():
        assert got[key] == row, key


def test_days_late_only_with_evidence(outcome: Outcome) -> None:
    got = _compliance(outcome.reports["compliance"], "order", "intermediary")
    # Quad9 and the AGCOM list were blocked when monitoring began, years and months
    # after their deadlines: no days late is claimed
    for key in (("de-hamburg-2021-quad9", "quad9"), ("agcom-2024-dda-101", "isp")):
        assert got[key]["status"] == "blocked when monitoring began", key
        assert got[key]["monitoring_since"] == truth.ROUNDS[0].day.isoformat()
        assert got[key]["days_late"] is None, key
    # Cloudflare (1.1.1.1 and its DoT, one intermediary with its edge) complies by its
    # edge's 451, found to the round of its compliance date: late, with evidence
    # (monitored from before the deadline), while its DNS never changed
    block = next(b for b in truth.EDGE_BLOCKS if b.order_id == MILAN)
    row = got[(MILAN, truth.EDGE)]
    assert row["first_blocked_round"] == block.from_round
    assert row["remedy"] == "edge http-451, DNS unchanged"
    assert row["days_late"] == (truth.round_by_number(block.from_round).day
                                - _order(MILAN).deadline).days > 0
    # the others' blocks on those paths are theirs: Google's DNS, the ISP's drop
    assert row["others"] == "resolver google: ede; resolver isp: drop"


def test_mirror_counted_from_its_own_date(outcome: Outcome) -> None:
    rows = _compliance(outcome.reports["milan_domains"], "intermediary", "domain")
    want = {(r["intermediary"], r["domain"]): r for r in truthlayers.expected_compliance(
        truth.ROUNDS[-1].day, outcome.paths, by_domain=True) if r["order"] == MILAN}
    assert rows.keys() == want.keys()
    for key, row in want.items():
        assert {k: v for k, v in rows[key].items() if k != "order"} == \
            {k: v for k, v in row.items() if k != "order"}, key
    mirror = rows[(truth.EDGE, "kickasstorrents.cr")]
    order = _order(MILAN)
    assert (mirror["kind"], mirror["added"], mirror["deadline"]) == (
        "mirror", truth.round_by_number(5).day.isoformat(),
        truth.due(order, "kickasstorrents.cr").isoformat())
    # reachable, but not due before 30 days after it was added: not late yet
    assert (mirror["status"], mirror["days_late"], mirror["total_since_deadline"]) == (
        "never blocked", 0, 0)


def test_country_by_name(outcome: Outcome) -> None:
    italy = [r for r in outcome.reports["effectiveness"] if r["country"] == "IT"]
    assert outcome.reports["italy"] == italy != []


def test_mirrors_still_resolving(outcome: Outcome) -> None:
    got = _rows(outcome.reports["compliance"], "order", "intermediary")
    # Cloudflare never refuses the Milan mirror; the ISP blocks AGCOM's one round late,
    # so its latest observation is blocked.
    assert got[(MILAN, truth.EDGE)]["mirrors_reachable"] == 1
    assert got[("agcom-2024-dda-101", "isp")]["mirrors_reachable"] == 0


@pytest.mark.parametrize("layer", truthlayers.LAYERS)
def test_leakage(outcome: Outcome, layer: str) -> None:
    keys = ("order", "country", "resolver", "transport", "site")
    got = _rows(outcome.reports[f"leakage:{layer}"], *keys)
    want = _rows(truthlayers.expected_leakage(layer, outcome.paths), *keys)
    assert got.keys() == want.keys()
    for key, row in want.items():
        actual = dict(got[key])
        actual["last_reached_round"] = started_round(actual.pop("last_reached"))
        assert actual == row, (layer, key)


@pytest.mark.parametrize("layer", truthlayers.LAYERS)
def test_spillover(outcome: Outcome, layer: str) -> None:
    got = outcome.reports[f"spillover:{layer}"]
    want = truthlayers.expected_spillover(layer, outcome.paths)
    assert want, "the ground truth has a spillover (Quad9 in France)"
    assert _rows(got, "order", "country", "resolver", "site") == \
        _rows(want, "order", "country", "resolver", "site")


@pytest.mark.parametrize("layer", truthlayers.LAYERS)
def test_timeline(outcome: Outcome, layer: str) -> None:
    assert _rows(outcome.reports[f"timeline:{layer}"], "day", "resolver") == \
        _rows(truthlayers.expected_timeline(layer, outcome.paths), "day", "resolver")
    assert outcome.png.startswith(b"\x89PNG\r\n\x1a\n")


def test_probes_and_no_blocked_verdict_on_controls_or_in_the_control_country(
        outcome: Outcome) -> None:
    got = _rows(outcome.reports["probes"], "probe")
    want = _rows(truth.expected_probes(outcome.plan), "probe")
    assert got.keys() == want.keys()
    for key, row in want.items():
        actual = {k: v for k, v in got[key].items() if k != "last_seen"}
        assert actual == row, key
    assert all(r["blocked_controls"] == 0 for r in got.values())
    control = next(c for c in truth.COUNTRIES if c.control)
    assert got[(control.probe,)]["blocked"] == 0
    # Control vantages are the reference, never a row of the effectiveness report.
    assert outcome.control_only == []


def test_direct_db_reports_equal_the_rpc_ones(outcome: Outcome) -> None:
    for name, rows in outcome.after_stop.items():
        assert rows == outcome.reports[name], name


def test_html_report_written(outcome: Outcome) -> None:
    text = outcome.html.read_text()
    assert "<html" in text.lower()
    for order in truth.ORDERS:
        assert order.order_id in text


# -- the web layer: what the probes' follow-ups recorded, as the collector stored it ------

WebKey = tuple[str, int, str, str, int]     # country, round, name, address, port


def _order(order_id: str) -> truth.Order:
    return next(o for o in truth.ORDERS if o.order_id == order_id)


def _stored_web(outcome: Outcome) -> dict[WebKey, dict[str, Any]]:
    country = {c.probe: c.code for c in truth.COUNTRIES}
    out: dict[WebKey, dict[str, Any]] = {}
    for row in outcome.stored["web"]:
        rnd = started_round(row["started_at"])
        assert rnd is not None, f"{row['started_at']} is in no round's window"
        key = (country[row["probe"]], rnd, row["name"], row["address"], row["port"])
        assert key not in out, f"{key}: followed twice in a round, or stored twice"
        out[key] = row
    return out


def _expected_web(plan: truth.CandidatePlan) -> dict[WebKey, truth.ExpectedWeb]:
    return {(e.country.code, e.round.number, e.name, e.address, e.port): e
            for e in truth.expected_web(candidates=plan)}


def _seen(row: dict[str, Any]) -> dict[str, Any]:
    """What one stored observation says, in the ground truth's terms."""
    tls = bool(row["tls_attempted"])
    return {"resolvers": row["resolvers"], "connect_failure": row["connect_failure"],
            "status": row["status"] or None, "title": row["title"], "location": row["location"],
            "name_matches": bool(row["name_matches"]) if tls else None,
            "sans": row["sans"] if tls else []}


def _want(e: truth.ExpectedWeb, row: dict[str, Any]) -> dict[str, Any]:
    return {"resolvers": sorted(e.resolvers), "connect_failure": e.connect_failure or "none",
            "status": e.status, "title": row["title"] if e.title is None else e.title,
            "location": e.location, "name_matches": e.name_matches, "sans": list(e.sans)}


def test_web_observations_stored_exactly_once(outcome: Outcome) -> None:
    stored_ids = Counter(row["observation_id"] for row in outcome.stored["web"])
    assert [i for i, n in stored_ids.items() if n > 1] == []
    recorded = [i for ids in outcome.recorded_web.values() for i in ids]
    assert len(recorded) == len(set(recorded)), "a probe printed a web observation twice"
    assert set(stored_ids) == set(recorded)
    assert len(recorded) == len(truth.expected_web(candidates=outcome.plan))
    for result in outcome.rounds:
        for probe, rows in result.web.items():
            assert all(r["probe"] == "" or r["probe"] == probe for r in rows)


def test_web_follow_ups_equal_the_ground_truth(outcome: Outcome) -> None:
    got, want = _stored_web(outcome), _expected_web(outcome.plan)
    assert sorted(got) == sorted(want)
    for key, e in want.items():
        assert _seen(got[key]) == _want(e, got[key]), (key, e.why)


def test_edge_answers_451_in_italy_from_its_compliance_round_while_1_1_1_1_resolves(
        outcome: Outcome) -> None:
    got = _stored_web(outcome)
    block = next(b for b in truth.EDGE_BLOCKS if b.order_id == MILAN)
    zone_address = {d: truth.site_address(d) for d in block.domains}
    seen = 0
    for (country, rnd, name, address, _), row in got.items():
        if name not in block.domains or address != zone_address[name]:
            continue
        seen += 1
        if country == block.country and rnd >= block.from_round:
            assert (row["status"], row["title"]) == (451, truth.NOTICE_TITLE), (country, rnd)
            assert truth.notice(block) in row["body_prefix"]
            # the edge's own response head: what attributes the 451 to Cloudflare
            assert row["server"] == truth.EDGE, (country, rnd, name)
        else:   # before the compliance date, and in every other country
            host = truth.web_host(address, country)
            assert host is not None
            assert (row["status"], row["title"]) == (200, host.title), (country, rnd, name)
        if country == block.country:
            # the same answer through 1.1.1.1 (UDP and DoT) led there in every round
            assert {"cloudflare", "cloudflare-dot"} <= set(row["resolvers"]), (rnd, name)
    assert seen == len(truth.ROUNDS) * len(truth.COUNTRIES) * len(block.domains) * len(
        truth.WEB_PORTS)
    # at the DNS layer, 1.1.1.1 in Italy answered the sites normally every round
    for result in outcome.rounds:
        it = next(c.probe for c in truth.COUNTRIES if c.code == block.country)
        for m in result.measurements[it]:
            if m["domain"] in block.domains and m["resolver"]["name"].startswith("cloudflare"):
                first = m["responses"][0]
                assert first["rcode"] == "NOERROR", (result.round.number, m["domain"])
                assert [a["data"] for a in first["answers"]] == [zone_address[m["domain"]]]


def test_stop_page_title_and_certificate_mismatch(outcome: Outcome) -> None:
    stop = [(k, row) for k, row in _stored_web(outcome).items()
            if k[3] == STOP_PAGE_AGCOM]
    want = {k for k, e in _expected_web(outcome.plan).items() if e.address == STOP_PAGE_AGCOM}
    assert {k for k, _ in stop} == want != set()
    for (country, _, _, _, port), row in stop:
        assert country == "IT"
        assert row["resolvers"] == ["isp"]           # only the ISP's answer leads there
        assert (row["status"], row["title"]) == (200, truth.STOP_PAGE_TITLE)
        if port == 443:
            assert row["chain_verified"] and not row["name_matches"]
            assert row["sans"] == [f"DNS:{truth.STOP_PAGE_HOST}"]


def test_ip_drop_times_out_on_every_resolver_path(outcome: Outcome) -> None:
    drop = truth.IP_BLOCKS[0]
    rows = {k: row for k, row in _stored_web(outcome).items() if k[3] == drop.address}
    dropped = {k: row for k, row in rows.items() if k[0] == drop.country}
    assert len(dropped) == len(truth.ROUNDS) * len(drop.ports)
    for row in dropped.values():
        assert (row["connect_failure"], row["http_sent"]) == ("timeout", False)
        assert row["resolvers"] == sorted(truth.RESOLVERS)   # DoH and DoT included
    # the same address answers from every other country
    assert all(row["connect_failure"] == "none" and row["status"]
               for k, row in rows.items() if k[0] != drop.country)


def test_redirect_to_the_mirror_recorded(outcome: Outcome) -> None:
    hosts = [h for h in truth.WEB_HOSTS if h.redirect_to]
    assert len(hosts) >= 2     # a listed mirror (canna), an unlisted one (ilcorsaronero)
    for host in hosts:
        rows = [row for k, row in _stored_web(outcome).items() if k[3] == host.address]
        assert rows, host
        for row in rows:
            assert (row["status"], row["location"]) == (301, f"https://{host.redirect_to}/")


def test_certificate_names_the_mirror(outcome: Outcome) -> None:
    host = next(h for h in truth.WEB_HOSTS if len(h.sans) > 1)
    tls = [(k, row) for k, row in _stored_web(outcome).items()
           if k[3] == host.address and k[4] == 443]
    assert {k[2] for k, _ in tls} >= {host.names[0]}
    for _, row in tls:
        assert row["sans"] == [f"DNS:{n}" for n in host.sans]
        assert row["name_matches"] and row["chain_verified"]


# -- mirror discovery: candidates measured, proposed with evidence, approved ------------------


def test_candidates_measured_within_their_share_every_round(outcome: Outcome) -> None:
    for rnd in truth.ROUNDS:
        by_probe = outcome.candidates[rnd.number]
        assert set(by_probe) == {c.probe for c in truth.COUNTRIES}
        windows = set(by_probe.values())
        assert len(windows) == 1, (rnd.number, by_probe)   # every probe the same window
        window = windows.pop()
        names = truth.round_names(rnd.number)
        # a full window (the generated variants alone outnumber it), within its share
        assert len(window) == truth.candidate_budget(rnd.number), (rnd.number, window)
        assert len(window) / (len(names) + len(window)) <= truth.CANDIDATE_SHARE
        assert not window & set(names), "a listed name measured as a candidate"
        # candidates with evidence from earlier rounds are measured in every later one
        derived = {e.candidate for e in truthmirrors.evidence(outcome.plan, rnd.number - 1)}
        assert derived - set(names) <= window, (rnd.number, derived, window)
    # the candidates that showed a site in some round
    assert {c for _, c in truthmirrors.true_mirrors(BEFORE_APPROVAL)} <= set().union(
        *outcome.plan.values())


def _mirrors(rows: Rows, through_round: int, plan: truth.CandidatePlan) -> None:
    """`report mirrors` rows equal the ground truth's after a round, with evidence."""
    got = _rows(rows, "order", "candidate", "country", "intermediary")
    want = _rows(truthmirrors.expected_mirrors(plan, through_round), "order", "candidate",
                 "country", "intermediary")
    assert got.keys() == want.keys()
    assert {(o, c) for o, c, _, _ in want} == truthmirrors.true_mirrors(through_round)
    for key, row in want.items():
        actual = {k: v for k, v in got[key].items() if k not in ("evidence", "first_seen")}
        actual["first_seen_round"] = started_round(got[key]["first_seen"])
        assert actual == row, key
    for e in truthmirrors.evidence(plan, through_round):
        for key, row in got.items():
            if key[:2] == (e.order_id, e.candidate):
                assert f"{e.source}: {e.words}" in row["evidence"], (e, row["evidence"])
                assert "[probe " in row["evidence"]


def test_every_true_mirror_proposed_with_its_evidence(outcome: Outcome) -> None:
    # before the approval: all of them, the approved one included
    assert outcome.mirrors_before, "no candidate proposed"
    _mirrors(outcome.mirrors_before, BEFORE_APPROVAL, outcome.plan)


def test_mirrors_after_the_approval(outcome: Outcome) -> None:
    _mirrors(outcome.reports["mirrors"], len(truth.ROUNDS), outcome.plan)
    approved = {d.name for r in truth.ROUNDS for _, _, d in truth.approvals(r.number)}
    assert approved and not approved & {r["candidate"] for r in outcome.reports["mirrors"]}


def test_unrelated_variant_measured_never_proposed(outcome: Outcome) -> None:
    unrelated = truthmirrors.unrelated_variants()
    assert unrelated, "the ground truth has an unrelated variant"
    assert unrelated <= set().union(*outcome.plan.values())
    control = next(c for c in truth.COUNTRIES if c.control)
    seen = [(k, row) for k, row in _stored_web(outcome).items()
            if k[0] == control.code and k[2] in unrelated and k[4] == 80]
    assert {k[2] for k, _ in seen} == unrelated     # its page seen from the control vantage
    for (_, _, name, _, _), row in seen:
        host = truthmirrors.control_host(name)
        assert host is not None and (row["status"], row["title"]) == (200, host.title)
    proposed = {r["candidate"] for r in [*outcome.mirrors_before, *outcome.reports["mirrors"]]}
    assert not unrelated & proposed


def test_approval_counts_the_mirror_from_its_day(outcome: Outcome) -> None:
    approvals = [(o, s, d, r) for r in truth.ROUNDS for o, s, d in truth.approvals(r.number)]
    assert outcome.approved == [
        f"{d.name}: mirror of {s.name} in order {o.order_id}, added {r.day.isoformat()}"
        for o, s, d, r in approvals]
    for order, _, domain, rnd in approvals:
        # measured as a candidate before, as a target from the approval on
        for result in outcome.rounds:
            purposes = {m["purpose"] for rows in result.measurements.values() for m in rows
                        if m["domain"] == domain.name}
            want = {"target"} if result.round.number >= rnd.number else \
                ({"candidate"} if domain.name in outcome.plan[result.round.number] else set())
            assert purposes == want, (result.round.number, purposes)
        # compliance by domain counts it from its day (candidate rows never counted)
        rows = [r for r in outcome.reports["milan_domains"] if r["domain"] == domain.name]
        assert order.order_id == MILAN and rows
        for row in rows:
            assert (row["kind"], row["added"]) == ("mirror", rnd.day.isoformat())


def test_demo_tells_the_milan_story_from_the_reports(outcome: Outcome) -> None:
    block = next(b for b in truth.EDGE_BLOCKS if b.order_id == MILAN)
    day = truth.round_by_number(block.from_round).day.isoformat()
    assert len(outcome.story) == len(_order(MILAN).sites)
    for domain, line in zip(block.domains, outcome.story, strict=True):
        assert line.startswith(f"  1.1.1.1 (cloudflare) resolves {domain} in IT "), line
        assert line.endswith(f"; edge cloudflare answers http-451 from {day} (http layer)"), \
            line


def test_campaign_runtime(outcome: Outcome) -> None:
    # about 75 s of rounds (10-20 s each, discovery passes between them), about 40 s
    # for the last round's site verdicts (campaign.WEB_SETTLE_S and a pass), 30 s of
    # reports at three layers; 190 s measured with the machine's load average at 8
    # before the site verdicts waited WEB_SETTLE_S
    assert outcome.seconds < 300, f"campaign took {outcome.seconds:.0f}s"
