"""TLS-consistent DNS answers: a CDN / geo-DNS answer unlike the control's is
`ok` when its web follow-up showed a certificate valid for the name."""

from __future__ import annotations

from blockwatch.analysis.dnsverdicts import classify
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.observation import (
    Answer,
    ControlContext,
    Health,
    Observation,
    Outcome,
    Reference,
)
from blockwatch.analysis.tlsconsistency import TlsEvidence, tls_evidence
from blockwatch.analysis.verdict import Rule, Status
from blockwatch.analysis.webobservation import WebObservation

FPS = load_fingerprints()
CONTROL = "104.16.1.1"
CDN = "151.101.1.1"                 # another prefix: the vantage's nearest CDN node
FORGED = "93.184.0.9"
CTX = ControlContext(Reference(Outcome.ANSWERED, (CONTROL,), "ctl-1", 0), Health.ANSWERS,
                     (CONTROL,))


def answer(*addresses: str) -> Observation:
    return Observation(measurement_id="m1", probe_name="it-1", probe_country="IT",
                       started_at_us=0, domain="thepiratebay.org", resolver_name="isp",
                       rcode=0, flags=0x8180, response_count=1,
                       answers=tuple(Answer(1, a) for a in addresses))


def follow_up(address: str, *, valid: bool = True, name: str = "thepiratebay.org",
              handshake: bool = True) -> WebObservation:
    return WebObservation(
        observation_id=f"w-{address}", probe_name="it-1", probe_country="IT", round_id="r1",
        started_at_us=0, name=name, address=address, tls_attempted=True,
        tls_failure="none" if handshake else "connection_reset", has_certificate=handshake,
        chain_verified=valid, name_matches=valid)


def test_cdn_answer_with_a_certificate_valid_for_the_name_is_ok() -> None:
    tls = tls_evidence("thepiratebay.org", [follow_up(CDN)])
    v = classify(answer(CDN), CTX, FPS, tls=tls)
    assert (v.status, v.rule) == (Status.OK, Rule.ANSWERS_DIFFER)
    assert v.evidence.answer == (CDN,)


def test_without_web_evidence_a_differing_answer_stays_suspect() -> None:
    assert classify(answer(CDN), CTX, FPS).status is Status.SUSPECT
    assert classify(answer(CDN), CTX, FPS, tls=TlsEvidence()).status is Status.SUSPECT


def test_invalid_certificate_or_failed_handshake_does_not_make_it_consistent() -> None:
    for web in (follow_up(CDN, valid=False), follow_up(CDN, handshake=False),
                follow_up(CDN, name="other.example")):
        tls = tls_evidence("thepiratebay.org", [web])
        assert classify(answer(CDN), CTX, FPS, tls=tls).status is Status.SUSPECT, web


def test_an_answer_mixing_a_valid_address_with_a_forged_one_is_not_consistent() -> None:
    tls = tls_evidence("thepiratebay.org", [follow_up(CDN), follow_up(FORGED, valid=False)])
    assert tls == TlsEvidence(frozenset({CDN}), frozenset({FORGED}))
    assert classify(answer(CDN, FORGED), CTX, FPS, tls=tls).status is Status.SUSPECT


def test_an_address_seen_with_an_invalid_certificate_is_never_counted_valid() -> None:
    tls = tls_evidence("ThePirateBay.org.", [follow_up(CDN), follow_up(CDN, valid=False)])
    assert not tls.consistent([CDN])


def test_web_evidence_never_overrides_a_block_page_answer() -> None:
    stop_page = "83.224.65.74"
    tls = tls_evidence("thepiratebay.org", [follow_up(stop_page)])
    v = classify(answer(stop_page), CTX, FPS, tls=tls)
    assert v.status is Status.BLOCKED and v.rule is Rule.FINGERPRINT
