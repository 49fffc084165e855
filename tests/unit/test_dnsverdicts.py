"""Classification rules, one behaviour per test, named after what a real
resolver (or middlebox) does. Pure: observations and contexts are built here."""

from __future__ import annotations

from dataclasses import replace

import pytest

from blockwatch.analysis.controls import ControlIndex
from blockwatch.analysis.dnsverdicts import classify
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.observation import (
    Answer,
    ControlContext,
    Health,
    LaterResponse,
    Observation,
    Outcome,
    Reference,
)
from blockwatch.analysis.verdict import RULES_VERSION, Method, Rule, Status, Verdict

FPS = load_fingerprints()
REAL = "104.16.1.1"
RESOLVES = ControlContext(Reference(Outcome.ANSWERED, (REAL,), "ctl-1", 0), Health.ANSWERS,
                          (REAL,))
NXDOMAIN_TOO = ControlContext(Reference(Outcome.NXDOMAIN, (), "ctl-2", 0), Health.ANSWERS)
TIMED_OUT_TOO = ControlContext(Reference(Outcome.FAILED, (), "ctl-3", 0), Health.ANSWERS)
NO_CONTEXT = ControlContext()
RESOLVER_DOWN = replace(RESOLVES, health=Health.FAILS)


def obs(**kw: object) -> Observation:
    base = Observation(measurement_id="m1", probe_name="it-1", probe_country="IT",
                       started_at_us=1_700_000_000_000_000, domain="thepiratebay.org",
                       resolver_name="isp", rcode=0, flags=0x8180, response_count=1,
                       answers=(Answer(1, REAL),))
    return replace(base, **kw)  # type: ignore[arg-type]


def judge(o: Observation, ctx: ControlContext = RESOLVES) -> Verdict:
    return classify(o, ctx, FPS)


def test_google_refused_ede16_is_blocked_ede() -> None:
    v = judge(obs(rcode=5, answers=(), ede=((16, "censored"),)), NO_CONTEXT)
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, Method.EDE, Rule.EDE_BLOCKED)
    assert v.evidence.ede_code == 16 and v.evidence.ede_text == "censored"
    assert v.evidence.fingerprint == "google.refused_ede16" and v.evidence.rcode == 5
    assert v.version.startswith(RULES_VERSION + "+fp.")


@pytest.mark.parametrize("code", [15, 16, 18])
def test_ede_blocked_censored_prohibited_are_blocked_without_control(code: int) -> None:
    v = judge(obs(rcode=3, answers=(), ede=((code, ""),)), NO_CONTEXT)
    assert (v.status, v.method) == (Status.BLOCKED, Method.EDE)


def test_cloudflare_family_zero_address_ede17_is_filtered_not_blocked() -> None:
    v = judge(obs(answers=(Answer(1, "0.0.0.0"),), ede=((17, "filtered"),)))
    assert (v.status, v.method, v.rule) == (Status.FILTERED, Method.EDE, Rule.EDE_FILTERED)
    assert v.evidence.fingerprint == "cloudflare_family.zero_ede17"


def test_quad9_nxdomain_without_ra_or_authority_is_blocked_nxdomain() -> None:
    v = judge(obs(rcode=3, flags=0x8103, answers=(), authority_count=0), NO_CONTEXT)
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, Method.NXDOMAIN,
                                            Rule.QUAD9_NXDOMAIN)
    assert v.evidence.fingerprint == "quad9.nxdomain_no_ra"


def test_italian_isp_agcom_stop_page_is_blocked_sinkhole_with_fingerprint_name() -> None:
    v = judge(obs(answers=(Answer(1, "83.224.65.74"),)))
    assert (v.status, v.method) == (Status.BLOCKED, Method.SINKHOLE)
    assert v.evidence.fingerprint == "cl.dns_nat_it_agcom_block"
    assert v.evidence.answer == ("83.224.65.74",)


@pytest.mark.parametrize(("address", "name"), [("34.110.214.49", "ooni.it_piracy_shield"),
                                               ("217.175.53.72", "cl.dns_nat_it_adm_block")])
def test_piracy_shield_and_adm_stop_pages_are_named(address: str, name: str) -> None:
    v = judge(obs(answers=(Answer(1, address),)))
    assert (v.status, v.method, v.evidence.fingerprint) == (Status.BLOCKED, Method.SINKHOLE,
                                                            name)


def test_italian_stop_page_seen_from_germany_is_still_named_spillover() -> None:
    v = judge(obs(probe_country="DE", answers=(Answer(1, "83.224.65.74"),)))
    assert v.evidence.fingerprint == "cl.dns_nat_it_agcom_block"


def test_private_fingerprint_outside_its_country_is_only_a_bogon() -> None:
    v = judge(obs(probe_country="IT", answers=(Answer(1, "10.10.34.34"),)))
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, Method.BOGON, Rule.BOGON)
    assert v.evidence.fingerprint == ""


def test_indonesian_cname_block_page_matches_cname_fingerprint() -> None:
    v = judge(obs(probe_country="ID", answers=(Answer(5, "internet-positif.org."),
                                               Answer(1, "118.97.116.27"))))
    assert v.evidence.fingerprint in {"ooni.id_44", "ooni.id_dns_104"}
    assert v.status is Status.BLOCKED


@pytest.mark.parametrize("address", ["0.0.0.0", "127.0.0.1", "192.168.1.1", "::", "2001:db8::1"])
def test_bogon_answers_are_blocked_bogon(address: str) -> None:
    v = judge(obs(answers=(Answer(28 if ":" in address else 1, address),)))
    assert (v.status, v.method) == (Status.BLOCKED, Method.BOGON)


def test_bogon_the_control_also_gets_is_a_private_deployment_not_a_block() -> None:
    ctx = replace(RESOLVES, control_addresses=("10.1.2.3",))
    v = judge(obs(answers=(Answer(1, "10.1.2.3"),)), ctx)
    assert (v.status, v.rule) == (Status.OK, Rule.MATCHES_CONTROL)


def test_isp_nxdomain_where_control_resolves_is_blocked_nxdomain() -> None:
    v = judge(obs(rcode=3, flags=0x8183, authority_count=1, answers=()))
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, Method.NXDOMAIN,
                                            Rule.CONTROL_RESOLVES)
    assert v.evidence.control_answer == (REAL,) and v.evidence.control_measurement_id == "ctl-1"


def test_nxdomain_when_control_nxdomain_too_is_ok_not_blocked() -> None:
    v = judge(obs(rcode=3, flags=0x8183, authority_count=1, answers=()), NXDOMAIN_TOO)
    assert (v.status, v.rule) == (Status.OK, Rule.CONSISTENT)


def test_nxdomain_when_control_timed_out_is_unknown_not_blocked() -> None:
    v = judge(obs(rcode=3, flags=0x8183, authority_count=1, answers=()), TIMED_OUT_TOO)
    assert (v.status, v.rule) == (Status.UNKNOWN, Rule.CONTROL_FAILED)


def test_nxdomain_without_any_control_is_unknown() -> None:
    v = judge(obs(rcode=3, flags=0x8183, authority_count=1, answers=()), NO_CONTEXT)
    assert (v.status, v.rule) == (Status.UNKNOWN, Rule.NO_CONTROL)


def test_rpz_nodata_where_control_resolves_is_blocked_nodata() -> None:
    v = judge(obs(answers=()))
    assert (v.status, v.method) == (Status.BLOCKED, Method.NODATA)


def test_aaaa_nodata_when_control_has_no_aaaa_either_is_ok() -> None:
    ctx = ControlContext(Reference(Outcome.NODATA), Health.ANSWERS)
    v = judge(obs(qtype=28, answers=()), ctx)
    assert (v.status, v.rule) == (Status.OK, Rule.CONSISTENT)


def test_rpz_drop_timeout_from_working_resolver_is_blocked_drop() -> None:
    v = judge(obs(rcode=None, failure="timeout", answers=(), response_count=0))
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, Method.DROP, Rule.CONTROL_RESOLVES)


def test_unbound_dot_reset_after_blocked_query_is_blocked_drop() -> None:
    v = judge(obs(transport="dot", rcode=None, failure="connection_reset", answers=()))
    assert (v.status, v.method) == (Status.BLOCKED, Method.DROP)


def test_timeout_from_resolver_never_seen_working_is_suspect_not_blocked() -> None:
    v = judge(obs(rcode=None, failure="timeout", answers=()), replace(RESOLVES,
                                                                       health=Health.UNKNOWN))
    assert (v.status, v.rule) == (Status.SUSPECT, Rule.NO_HEALTH)


def test_resolver_failing_controls_too_is_error_not_blocked() -> None:
    for o in (obs(rcode=None, failure="timeout", answers=()), obs(rcode=2, answers=()),
              obs(rcode=5, answers=())):
        v = judge(o, RESOLVER_DOWN)
        assert (v.status, v.rule) == (Status.ERROR, Rule.RESOLVER_FAILS), o


def test_servfail_where_control_resolves_is_blocked_servfail() -> None:
    v = judge(obs(rcode=2, answers=()))
    assert (v.status, v.method) == (Status.BLOCKED, Method.SERVFAIL)


def test_refused_from_resolver_answering_control_is_blocked_refused() -> None:
    v = judge(obs(rcode=5, answers=()))
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, Method.REFUSED,
                                            Rule.REFUSED_ANSWERS_CONTROL)
    assert v.evidence.fingerprint == "google.refused"


def test_refused_without_resolver_health_is_unknown() -> None:
    v = judge(obs(rcode=5, answers=()), NO_CONTEXT)
    assert (v.status, v.rule) == (Status.UNKNOWN, Rule.NO_HEALTH)


def test_gfw_style_second_forged_udp_response_is_blocked_injected() -> None:
    v = judge(obs(response_count=2, answers=(Answer(1, "8.7.198.45"),),
                  later=(LaterResponse(0, (REAL,)),)))
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, Method.INJECTED, Rule.INJECTED)
    assert set(v.evidence.answer) == {"8.7.198.45", REAL}


def test_duplicated_identical_udp_response_is_not_injection() -> None:
    v = judge(obs(response_count=2, later=(LaterResponse(0, (REAL,)),)))
    assert (v.status, v.rule) == (Status.OK, Rule.ANSWERED)


def test_a_flood_that_kept_one_answer_set_but_counted_two_is_injected() -> None:
    # 16 identical forgeries then the genuine reply: the counts say two answer sets
    v = judge(obs(response_count=1, answers=(Answer(1, "8.7.198.45"),), reply_count=17,
                  answer_set_count=2))
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, Method.INJECTED, Rule.INJECTED)


def test_many_identical_copies_are_still_not_injection() -> None:
    v = judge(obs(response_count=1, reply_count=20, answer_set_count=1))
    assert (v.status, v.rule) == (Status.OK, Rule.ANSWERED)


def test_timeout_after_a_forged_wrong_id_reply_is_injection_not_a_drop() -> None:
    v = judge(obs(rcode=None, failure="timeout", answers=(), response_count=0, stray_count=1,
                  stray_reasons=("wrong_id",)))
    assert (v.status, v.method, v.rule) == (Status.BLOCKED, Method.INJECTED, Rule.STRAY_FORGED)


@pytest.mark.parametrize("reasons", [("runt",), ("unmatched",), ("wrong_id",)])
def test_timeout_after_stray_replies_is_suspect_without_more_evidence(
        reasons: tuple[str, ...]) -> None:
    # a runt or an unmatched datagram, or a forged id from a resolver of unknown health
    ctx = RESOLVES if reasons != ("wrong_id",) else replace(RESOLVES, health=Health.UNKNOWN)
    v = judge(obs(rcode=None, failure="timeout", answers=(), response_count=0, stray_count=3,
                  stray_reasons=reasons), ctx)
    assert (v.status, v.rule) == (Status.SUSPECT, Rule.STRAY_REPLIES)


def test_control_vantage_seeing_normal_answers_is_never_blocked() -> None:
    for o in (obs(probe_control=True), obs(probe_control=True, rcode=3, answers=())):
        v = judge(o, ControlContext(Reference(Outcome.NXDOMAIN), Health.ANSWERS, ("1.2.3.4",)))
        assert v.status is Status.OK and v.rule is Rule.CONTROL_VANTAGE, o


def test_cdn_answer_in_another_prefix_than_control_is_suspect() -> None:
    v = judge(obs(answers=(Answer(1, "151.101.1.1"),)))
    assert (v.status, v.rule) == (Status.SUSPECT, Rule.ANSWERS_DIFFER)


def test_cdn_answer_in_the_control_prefix_is_ok() -> None:
    v = judge(obs(answers=(Answer(1, "104.16.1.77"),)))
    assert (v.status, v.rule) == (Status.OK, Rule.ANSWERED)


def test_tls_failure_is_error_not_blocked() -> None:
    v = judge(obs(transport="dot", rcode=None, failure="tls_certificate", answers=()))
    assert (v.status, v.rule) == (Status.ERROR, Rule.TRANSPORT_FAILURE)


def test_identity_checks_are_not_judged() -> None:
    assert judge(obs(purpose="identity")).status is Status.UNKNOWN


def test_control_index_takes_the_nearest_control_and_same_probe_health() -> None:
    hour = 3_600_000_000
    target = obs(started_at_us=10 * hour, rcode=3, answers=())
    early = obs(measurement_id="c-early", probe_name="nl", probe_control=True,
                started_at_us=7 * hour, rcode=3, answers=())
    near = obs(measurement_id="c-near", probe_name="nl", probe_control=True,
               started_at_us=11 * hour)
    health = obs(measurement_id="h", domain="example.com", purpose="control",
                 started_at_us=10 * hour)
    other_probe = replace(health, measurement_id="h2", probe_name="it-2", rcode=None,
                          answers=())
    ctx = ControlIndex([early, near, target], [health, other_probe]).context(target)
    assert ctx.reference is not None and ctx.reference.measurement_id == "c-near"
    assert ctx.health is Health.ANSWERS and ctx.control_addresses == (REAL,)
    far = ControlIndex([near], [], window_us=hour // 2).context(target)
    assert far.reference is None and far.health is Health.UNKNOWN
