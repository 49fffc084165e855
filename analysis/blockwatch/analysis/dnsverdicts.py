"""The DNS verdict rules (the web's are webverdicts.py): `classify` takes one
observation + its control context + fingerprints and returns a verdict. Pure
functions; rules run in the order of docs/verdicts.md and the first that
decides wins.

Two kinds of rules (DESIGN.md, "Classification"): signals that need no
control (EDE, known stop pages, bogons, Quad9-style NXDOMAIN, injection), and
differential signals that compare with the control resolution of the same name
nearest in time. Differential rules never call a block when the control failed
too, and a resolver that fails for the control domains as well is `error`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from blockwatch.analysis.bogons import is_bogon, prefix
from blockwatch.analysis.fingerprints import FingerprintSet
from blockwatch.analysis.observation import (
    RCODE_NOERROR,
    RCODE_NXDOMAIN,
    RCODE_REFUSED,
    RCODE_SERVFAIL,
    ControlContext,
    Health,
    Observation,
    Outcome,
    StrayReason,
)
from blockwatch.analysis.tlsconsistency import TlsEvidence
from blockwatch.analysis.verdict import RULES_VERSION, Evidence, Method, Rule, Status, Verdict
from blockwatch.contract.vocabulary import Failure, Purpose, Transport

EDE_BLOCKED = frozenset({15, 16, 18})   # Blocked, Censored, Prohibited (RFC 8914)
EDE_FILTERED = 17                       # Filtered: the client's (or family) filter
# No response at all: what a resolver or middlebox that drops the query leaves.
DROP_FAILURES = frozenset({Failure.TIMEOUT.label, Failure.CONNECTION_RESET.label})


def classifier_version(fingerprints: FingerprintSet) -> str:
    return f"{RULES_VERSION}+fp.{fingerprints.version}"


def classify(obs: Observation, ctx: ControlContext, fps: FingerprintSet, *,
             tls: TlsEvidence | None = None) -> Verdict:
    """`tls` (optional, oracle only for now): what the web follow-ups showed for
    this name (tlsconsistency.tls_evidence); an answer that differs from the
    control's but is TLS-consistent is then `ok` (docs/verdicts.md)."""
    version = classifier_version(fps)
    base = Evidence(
        rcode=obs.rcode,
        control_outcome=ctx.reference.outcome.value if ctx.reference else "",
        control_answer=ctx.reference.addresses if ctx.reference else (),
        control_measurement_id=ctx.reference.measurement_id if ctx.reference else "",
        resolver_health=ctx.health.value)

    verdict = _Judge(base, version)
    if obs.purpose == Purpose.IDENTITY.label:
        return verdict(Status.UNKNOWN, Rule.IDENTITY)

    # 1. On-path injection: a second UDP response that says something else
    #    (among those kept, or counted among all: a flood keeps only some).
    if obs.transport == Transport.UDP.label and (obs.answer_set_count > 1 or (
            obs.response_count > 1 and _responses_differ(obs))):
        seen = (*obs.addresses, *(d for r in obs.later for d in r.answer_data))
        return verdict(Status.BLOCKED, Rule.INJECTED, Method.INJECTED, answer=seen)

    behaviour = fps.behaviour(obs) if obs.rcode is not None else None
    named = behaviour.name if behaviour else ""

    # 2. Extended DNS Errors say it themselves.
    for code, text in obs.ede:
        if code in EDE_BLOCKED:
            return verdict(Status.BLOCKED, Rule.EDE_BLOCKED, Method.EDE, ede_code=code,
                           ede_text=text, fingerprint=named, answer=obs.addresses)
    for code, text in obs.ede:
        if code == EDE_FILTERED:
            return verdict(Status.FILTERED, Rule.EDE_FILTERED, Method.EDE, ede_code=code,
                           ede_text=text, fingerprint=named, answer=obs.addresses)

    if obs.rcode is None:
        return _no_response(obs, ctx, verdict)
    if obs.rcode == RCODE_NOERROR and obs.answers:
        return _answers(obs, ctx, fps, verdict, tls)
    if obs.rcode == RCODE_NXDOMAIN:
        if behaviour is not None and behaviour.method is Method.NXDOMAIN:
            # Quad9 style: no recursion flag, no SOA - not how a real NXDOMAIN looks.
            return verdict(Status.BLOCKED, Rule.QUAD9_NXDOMAIN, Method.NXDOMAIN,
                           fingerprint=behaviour.name)
        return _differential(obs, ctx, Method.NXDOMAIN, Outcome.NXDOMAIN, verdict)
    if obs.rcode == RCODE_NOERROR:
        return _differential(obs, ctx, Method.NODATA, Outcome.NODATA, verdict)
    if obs.rcode == RCODE_SERVFAIL:
        return _differential(obs, ctx, Method.SERVFAIL, Outcome.SERVFAIL, verdict)
    if obs.rcode == RCODE_REFUSED:
        if ctx.health is Health.ANSWERS:
            return verdict(Status.BLOCKED, Rule.REFUSED_ANSWERS_CONTROL, Method.REFUSED,
                           fingerprint=named)
        if ctx.health is Health.FAILS:
            return verdict(Status.ERROR, Rule.RESOLVER_FAILS)
        return verdict(Status.UNKNOWN, Rule.NO_HEALTH, fingerprint=named)
    return verdict(Status.ERROR, Rule.RCODE_ERROR)


@dataclass(frozen=True, slots=True)
class _Judge:
    """Builds verdicts that share the observation's base evidence and version."""

    base: Evidence
    version: str

    def __call__(self, status: Status, rule: Rule, method: Method = Method.NONE,
                 **evidence: Any) -> Verdict:
        return Verdict(status, rule, method, replace(self.base, **evidence), self.version)


def _responses_differ(obs: Observation) -> bool:
    """Identical duplicates are the network repeating a datagram, not a forger."""
    first = (obs.rcode, frozenset(obs.addresses))
    return any((r.rcode, frozenset(r.answer_data)) != first for r in obs.later) \
        or bool(obs.parse_error)


def _answers(obs: Observation, ctx: ControlContext, fps: FingerprintSet,
             verdict: _Judge, tls: TlsEvidence | None = None) -> Verdict:
    addresses = obs.addresses
    fp = fps.match((*addresses, *obs.cnames), obs.probe_country)
    if fp is not None:
        method = Method.BOGON if fp.kind == "address" and is_bogon(fp.pattern) \
            else Method.SINKHOLE
        return verdict(Status.BLOCKED, Rule.FINGERPRINT, method, fingerprint=fp.name,
                       answer=addresses or obs.cnames)
    control = set(ctx.control_addresses)
    bogons = [a for a in addresses if is_bogon(a)]
    if bogons:
        if control and set(addresses) <= control:
            # The unfiltered vantage got the same: a private deployment, not a block.
            return verdict(Status.OK, Rule.MATCHES_CONTROL, answer=addresses)
        behaviour = fps.behaviour(obs)
        return verdict(Status.BLOCKED, Rule.BOGON, Method.BOGON, answer=addresses,
                       fingerprint=behaviour.name if behaviour else "")
    if obs.probe_control:
        return verdict(Status.OK, Rule.CONTROL_VANTAGE, answer=addresses)
    if control and addresses and not {prefix(a) for a in addresses} & {
            prefix(a) for a in control}:
        # The same rule fired; the web layer's certificate shows the answer is
        # the site's own (CDN, geo-DNS), so it is not suspect.
        consistent = tls is not None and tls.consistent(addresses)
        return verdict(Status.OK if consistent else Status.SUSPECT, Rule.ANSWERS_DIFFER,
                       answer=addresses)
    return verdict(Status.OK, Rule.ANSWERED, answer=addresses or obs.cnames)


def _no_response(obs: Observation, ctx: ControlContext, verdict: _Judge) -> Verdict:
    if obs.failure in DROP_FAILURES and obs.stray_count:
        return _strays(obs, ctx, verdict)
    if obs.failure in DROP_FAILURES:
        return _differential(obs, ctx, Method.DROP, Outcome.FAILED, verdict)
    if ctx.health is Health.FAILS:
        return verdict(Status.ERROR, Rule.RESOLVER_FAILS)
    # TLS, routing, local socket errors: the path failed, not the name.
    return verdict(Status.ERROR, Rule.TRANSPORT_FAILURE)


def _strays(obs: Observation, ctx: ControlContext, verdict: _Judge) -> Verdict:
    """No reply matched, but something answered: not a drop. A reply to this very
    question under another id, from a resolver that answers the control domains
    normally, is a forgery aimed at this name; anything else (runts, unmatched
    ids, or a resolver whose health is unknown) is interference without a name."""
    if StrayReason.WRONG_ID in obs.stray_reasons and ctx.health is Health.ANSWERS:
        return verdict(Status.BLOCKED, Rule.STRAY_FORGED, Method.INJECTED)
    return verdict(Status.SUSPECT, Rule.STRAY_REPLIES)


def _differential(obs: Observation, ctx: ControlContext, method: Method, same: Outcome,
                  verdict: _Judge) -> Verdict:
    """NXDOMAIN / NODATA / SERVFAIL / no answer: a block only where the control
    resolves and the resolver itself works."""
    if ctx.health is Health.FAILS:
        return verdict(Status.ERROR, Rule.RESOLVER_FAILS)
    if obs.probe_control:
        # An unfiltered vantage is the reference, never the blocked one.
        status = Status.OK if method in (Method.NXDOMAIN, Method.NODATA) else Status.ERROR
        return verdict(status, Rule.CONTROL_VANTAGE)
    ref = ctx.reference
    if ref is None:
        return verdict(Status.UNKNOWN, Rule.NO_CONTROL)
    if ref.outcome is Outcome.ANSWERED:
        if method in (Method.DROP, Method.SERVFAIL) and ctx.health is not Health.ANSWERS:
            # A silent or failing resolver we have not seen answer anything lately
            # may simply be down: not enough for a block.
            return verdict(Status.SUSPECT, Rule.NO_HEALTH)
        return verdict(Status.BLOCKED, Rule.CONTROL_RESOLVES, method)
    if ref.outcome is same and same in (Outcome.NXDOMAIN, Outcome.NODATA):
        return verdict(Status.OK, Rule.CONSISTENT)
    return verdict(Status.UNKNOWN, Rule.CONTROL_FAILED)
