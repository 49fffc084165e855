"""Mirror discovery's pure parts (issue 14): names, derivation from facts,
the assignment's candidate window, and the candidate purpose kept in step
across the proto, the probe and the SQL enums."""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path

import pytest

from blockwatch.collector.assignment import build_assignment, candidate_window
from blockwatch.collector.candidates import (
    AddressFact,
    Listed,
    WebFact,
    derive,
    to_measure,
)
from blockwatch.collector.mirrornames import (
    cdn_networks,
    host_of,
    registrable,
    shareable_address,
    variants,
)
from blockwatch.collector.orders import parse_orders
from blockwatch.collector.settings import AssignmentSettings
from blockwatch.probe.observation import Purpose
from blockwatch.v1 import probe_pb2 as pb

T0 = dt.datetime(2024, 9, 1, 10, tzinfo=dt.UTC)
KAT = Listed("it-kat", "kat", "kickasstorrents.to")
CERT = "ab" * 32


def fact(name: str, *, control: bool = True, status: int = 200, location: str = "",
         sans: tuple[str, ...] = (), cert: str = "", matches: bool = False, title: str = "",
         body: str = "", at: dt.datetime = T0, probe: str = "ch-control") -> WebFact:
    return WebFact(name, control, status, location, (), sans, cert, matches, title, body, at,
                   probe, f"obs-{name}-{probe}")


def found(*facts: WebFact, addresses: tuple[AddressFact, ...] = (),
          rejected: frozenset[tuple[str, str]] = frozenset(),
          listed: tuple[Listed, ...] = (KAT,)) -> set[tuple[str, str]]:
    return {(c.candidate, c.source) for c in derive(listed, facts, addresses, set(rejected),
                                                    cdn_networks())}


def test_registrable_domains_from_the_bundled_list_offline() -> None:
    # the bundled Public Suffix List snapshot: co.uk is one suffix
    assert registrable("www.kat.co.uk") == "kat.co.uk"
    assert registrable("kickasstorrents.to") == "kickasstorrents.to"
    assert registrable("a.b.example.com") == "example.com"
    assert registrable("mirror.lab") == "mirror.lab"   # unknown suffix: one label


def test_host_of_urls() -> None:
    assert host_of("https://Kat.CR:8443/path?q#x") == "kat.cr"
    assert host_of("http://user@kat.cr/") == "kat.cr"
    assert host_of("/relative") == ""
    assert host_of("http://[2001:db8::1]/") == ""


def test_variants_other_tlds_and_numbers_bounded() -> None:
    names = variants("kickasstorrents.to")
    assert "kickasstorrents.cc" in names and "kickasstorrents.cr" in names
    assert "kickasstorrents1.to" in names and "kickasstorrents3.to" in names
    assert "kickasstorrents.to" not in names
    assert len(names) <= 25
    assert "kat.to" in variants("kat2.to")     # numbered back to the base
    assert variants("localhost") == ()


def test_cdn_list_excludes_cloudflare_edges_only() -> None:
    cdn = cdn_networks()
    assert cdn.operator("104.16.1.1") == "cloudflare"
    assert cdn.operator("2606:4700::1") == "cloudflare"
    assert not shareable_address("172.67.161.20", cdn)      # Cloudflare edge
    assert shareable_address("81.169.145.70", cdn)          # a hoster
    assert not shareable_address("10.0.0.1", cdn)           # private: not the site's
    source = resources.files("blockwatch.collector").joinpath("data/SOURCE.md").read_text()
    assert "cdn_networks.csv" in source and "cloudflare.com/ips-v4" in source


def test_redirect_to_another_registrable_domain_is_proposed() -> None:
    got = derive([KAT], [fact(KAT.domain, status=301, location="https://kat.cr/")], [], set(),
                  cdn_networks())
    assert [(c.candidate, c.source, c.listed_domain, c.probe_name) for c in got] == [
        ("kat.cr", "redirect", KAT.domain, "ch-control")]
    assert "301 Location https://kat.cr/" in got[0].evidence
    # same registrable domain (www.) is no new domain
    assert found(fact(KAT.domain, status=301, location="https://www.kickasstorrents.to/")) \
        == set()


def test_a_stop_page_redirect_proposes_nothing() -> None:
    # an ISP's redirect to its notice: not a control vantage, no valid certificate
    stop = fact(KAT.domain, control=False, status=302, location="http://stop.agcom.it/",
                probe="it-1")
    assert found(stop) == set()


def test_certificate_sans_valid_for_the_name_are_proposed() -> None:
    sans = ("DNS:kickasstorrents.to", "DNS:*.kickasstorrents.to", "DNS:kat.sx")
    assert found(fact(KAT.domain, control=False, sans=sans, cert=CERT, matches=True,
                      probe="it-1")) == {("kat.sx", "certificate")}
    # a stop page's certificate (not valid for the name) names nothing of the site
    assert found(fact(KAT.domain, sans=("DNS:agcom.it",), cert=CERT, matches=False)) == set()
    # a shared certificate naming dozens of strangers proposes none of them
    many = tuple(f"DNS:site{i}.com" for i in range(30))
    assert found(fact(KAT.domain, sans=many, cert=CERT, matches=True)) == set()


def test_cohosting_on_a_hoster_not_on_a_cdn() -> None:
    at = (AddressFact(KAT.domain, "81.169.145.70", T0, "de-1", "m1"),
          AddressFact("katcr.net", "81.169.145.70", T0 + dt.timedelta(days=1), "fr-1", "m2"),
          AddressFact(KAT.domain, "104.16.1.1", T0, "de-1", "m3"),
          AddressFact("unrelated.com", "104.16.1.1", T0, "de-1", "m4"))
    got = derive([KAT], [], at, set(), cdn_networks())
    assert [(c.candidate, c.source, c.first_seen) for c in got] == [
        ("katcr.net", "cohost", T0 + dt.timedelta(days=1))]
    assert "81.169.145.70" in got[0].evidence


def test_a_generated_variant_counts_only_when_it_is_the_site() -> None:
    site = fact(KAT.domain, title="Kickass Torrents", body="b1", cert=CERT, matches=True)
    same_cert = fact("kickasstorrents.cc", cert=CERT, matches=True, title="other")
    same_title = fact("kickasstorrents.se", title="Kickass Torrents", body="b2")
    redirect = fact("kickasstorrents.so", status=301, location="https://kickasstorrents.to/x")
    unrelated = fact("kickasstorrents.org", title="Kickass Gardening", body="b3")
    not_found = fact("kickasstorrents.li", status=404, title="Kickass Torrents")
    from_blocked = fact("kickasstorrents.is", control=False, title="Kickass Torrents",
                        probe="it-1")
    assert found(site, same_cert, same_title, redirect, unrelated, not_found, from_blocked) == {
        ("kickasstorrents.cc", "variant"), ("kickasstorrents.se", "variant"),
        ("kickasstorrents.so", "variant")}


def test_listed_and_rejected_names_are_not_proposed_nor_measured() -> None:
    orders = parse_orders("""
orders:
  - {id: it-kat, authority: A, issued: 2024-07-15, deadline: 2024-08-14, countries: [IT],
     intermediaries: [isp], sites: [{name: kat, domains: [kickasstorrents.to],
     mirrors: [kickasstorrents.cr]}]}
""", source="t.yaml")
    listed = (KAT, Listed("it-kat", "kat", "kickasstorrents.cr"))
    redirect = fact(KAT.domain, status=301, location="https://kickasstorrents.cr/")
    assert found(redirect, listed=listed) == set()
    other = fact(KAT.domain, status=301, location="https://kat.sx/")
    assert found(other, rejected=frozenset({("it-kat", "kat.sx")})) == set()
    measure = dict(to_measure(orders, [], {("it-kat", "kickasstorrents.cc")}))
    assert "kickasstorrents.cc" not in measure and "kickasstorrents.cr" not in measure
    assert measure["kickasstorrents.se"] == "kat"


def test_first_seen_is_the_earliest_observation() -> None:
    later = fact(KAT.domain, status=301, location="https://kat.cr/", at=T0 + dt.timedelta(1))
    early = fact(KAT.domain, status=301, location="https://kat.cr/", at=T0, probe="de-ctl")
    [c] = derive([KAT], [later, early], [], set(), cdn_networks())
    assert c.first_seen == T0 and c.probe_name == "de-ctl"


@pytest.mark.parametrize(("n", "others", "share", "cap"), [
    (100, 40, 0.2, 10), (100, 40, 0.0, 0), (3, 40, 0.2, 3), (100, 1, 0.2, 1), (100, 30, 0.5, 30)])
def test_candidate_window_is_bounded(n: int, others: int, share: float, cap: int) -> None:
    names = [(f"c{i}.to", "s") for i in range(n)]
    window = candidate_window(names, others, share, 0)
    assert len(window) == cap
    if 0 < cap < n:
        assert len(window) / (len(window) + others) <= share or cap == 1
        # the window moves with each pass and covers every candidate in turn
        seen = {d for k in range(n) for d, _ in candidate_window(names, others, share, k)}
        assert len(seen) == n


def test_derived_candidates_are_in_every_window() -> None:
    names = [(f"d{i}.to", "s") for i in range(2)] + [(f"v{i}.to", "s") for i in range(9)]
    windows = [candidate_window(names, 3, 0.5, k, pinned=2) for k in range(9)]
    assert all(w[:2] == names[:2] and len(w) == 3 for w in windows)
    assert {w[2] for w in windows} == set(names[2:])
    # more derived ones than the budget: they take turns, the generated ones still
    # get one place
    windows = [candidate_window(names, 3, 0.5, k, pinned=5) for k in range(6)]
    assert all(len(w) == 3 and w[2] in names[5:] for w in windows)
    assert {d for w in windows for d in w[:2]} == set(names[:5])
    # a budget of one alternates
    ones = [candidate_window(names, 1, 0.2, k, pinned=2) for k in range(4)]
    assert ones == [[names[0]], [names[2]], [names[1]], [names[3]]]


def test_assignment_carries_candidates_with_their_purpose() -> None:
    orders = parse_orders("""
orders:
  - {id: o, authority: A, issued: 2024-07-15, deadline: 2024-08-14, countries: [IT],
     intermediaries: [isp], sites: [{name: kat, domains: [a.to, b.to, c.to, d.to]}]}
control_domains: [example.com]
""", source="t.yaml")
    a = build_assignment("IT", orders, AssignmentSettings(candidate_share=0.2),
                         candidates=[("a.cc", "kat"), ("a.se", "kat"), ("a.so", "kat")])
    candidates = [t for t in a.targets if t.purpose == Purpose.CANDIDATE]
    assert [(t.domain, t.site) for t in candidates] == [("a.cc", "kat")]   # 1/(5+1) <= 0.2
    plain = build_assignment("IT", orders, AssignmentSettings(candidate_share=0.0),
                             candidates=[("a.cc", "kat")])
    assert all(t.purpose != Purpose.CANDIDATE for t in plain.targets)


def test_candidate_purpose_in_step_across_proto_probe_and_sql() -> None:
    assert pb.Purpose.Value("PURPOSE_CANDIDATE") == Purpose.CANDIDATE
    proto = {n.removeprefix("PURPOSE_").lower(): v for n, v in pb.Purpose.items() if v}
    assert proto == {p.label: p.value for p in Purpose}
    sql = resources.files("blockwatch.schema").joinpath(
        "migrations/0007_mirror_candidates.sql").read_text()
    for enum in re.findall(r"MODIFY COLUMN purpose\s+Enum8\(([^)]*)\)", sql):
        assert dict((k, int(v)) for k, v in re.findall(r"'(\w+)' = (\d+)", enum)) == proto
    assert len(re.findall(r"MODIFY COLUMN purpose", sql)) == 3


def test_the_probe_measures_candidates_and_follows_them_on_the_web() -> None:
    from blockwatch.probe.followup import Followable
    from blockwatch.probe.observation import Measurement, Record, ResolverRef, Response, Transport
    from blockwatch.probe.webconfig import WebConfig
    from blockwatch.probe.wire import Assignment

    reply = pb.CheckInResponse(probe_name="it-1", country="IT", asn=3269, assignment=pb.Assignment(
        version="v", targets=[pb.Target(domain="kat.sx", site="kat",
                                        purpose=pb.PURPOSE_CANDIDATE)],
        qtypes=[1], schedule=pb.Schedule(interval_s=900, jitter_s=60)))
    [target] = Assignment(reply.SerializeToString()).targets
    assert (target.domain, target.purpose, target.site) == ("kat.sx", Purpose.CANDIDATE, "kat")

    def measured(purpose: Purpose) -> Measurement:
        return Measurement(
            measurement_id=bytes([int(purpose)]) * 16, round_id="r", started_at_us=0,
            duration_us=0, domain=f"{purpose.label}.example", qtype=1, qclass=1,
            purpose=purpose, resolver=ResolverRef("isp", "192.0.2.53", 53, Transport.UDP),
            responses=[Response(0, 0, 0, answers=(
                Record(f"{purpose.label}.example", 1, 300, "185.199.108.10"),))])

    kept = Followable(WebConfig())
    for purpose in Purpose:
        kept(measured(purpose))
    plan = kept.plan()
    assert {f.name for f in plan.followups} == {"target.example", "candidate.example"}


def test_derived_candidates_are_measured_first_then_the_likeliest_variants() -> None:
    orders = parse_orders("""
orders:
  - {id: o, authority: A, issued: 2024-07-15, deadline: 2024-08-14, countries: [IT],
     intermediaries: [isp],
     sites: [{name: kat, domains: [kat.to]}, {name: bay, domains: [bay.org]}]}
""", source="t.yaml")
    redirect = derive([Listed("o", "bay", "bay.org")],
                      [fact("bay.org", status=301, location="https://newbay.net/")], [], set(),
                      cdn_networks())
    measure = [d for d, _ in to_measure(orders, redirect, set())]
    assert measure[:3] == ["newbay.net", "bay.to", "kat.cc"]   # each site's first variant
    assert measure[3:5] == ["bay.cc", "kat.cr"]
    assert len(measure) == len(set(measure))


@pytest.mark.parametrize(("line", "field"), [
    ("candidate_share = 0.9", "assignment.candidate_share"),
    ("candidate_share = -0.1", "assignment.candidate_share"),
    ("discovery_interval_s = 0", "assignment.discovery_interval_s")])
def test_candidate_settings_out_of_range_are_named(tmp_path: Path, line: str,
                                                   field: str) -> None:
    from blockwatch.collector.errors import ConfigError
    from blockwatch.collector.settings import build_settings

    config = tmp_path / "c.toml"
    config.write_text(f"[assignment]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        build_settings(config, data_dir=tmp_path)
    assert field in str(caught.value)
