"""Web verdicts: one web follow-up + its control context + HTTP fingerprints ->
a verdict. Pure; rules run in the order of docs/verdicts.md ("Web verdicts")
and the first that decides wins.

As for DNS, two kinds of signal: those that need no control (HTTP 451, a known
block page) and differential ones that compare with the unfiltered vantages'
follow-ups of the same name near in time (ip-drop, tcp-reset,
tls-interference). A site that answers differently per country (its own
geo-variation) is not a block: without a fingerprint or a 451, a page that
differs from the control's is `ok`, with what differed kept as evidence.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from blockwatch.analysis.httpfingerprints import HttpFingerprintSet
from blockwatch.analysis.verdict import Status
from blockwatch.analysis.webobservation import (
    REFUSED,
    RESET,
    TIMEOUT,
    TLS_ERROR,
    WebContext,
    WebObservation,
)

WEB_RULES_VERSION = "web.1"
# A reset or a silent peer right after the ClientHello: what SNI filtering leaves.
_TLS_INTERFERENCE_FAILURES = frozenset({RESET, TIMEOUT})
_RESET_FAILURES = frozenset({RESET, REFUSED})   # RST to a SYN reads as "refused"


class WebMethod(enum.StrEnum):
    NONE = ""
    HTTP_451 = "http-451"
    BLOCKPAGE = "blockpage"
    IP_DROP = "ip-drop"
    TCP_RESET = "tcp-reset"
    TLS_INTERFERENCE = "tls-interference"


class WebRule(enum.StrEnum):
    CONTROL_VANTAGE = "web_control_vantage"
    BLOCKPAGE = "response_matches_blockpage_fingerprint"
    HTTP_451 = "http_451"
    CONNECT_TIMEOUT_CONTROL_CONNECTS = "connect_timeout_control_connects"
    CONNECT_TIMEOUT_NO_PATH = "connect_timeout_on_every_path"
    CONNECT_RESET_CONTROL_CONNECTS = "connect_reset_control_connects"
    TLS_FAILED_CONTROL_HANDSHAKES = "tls_failed_after_client_hello_control_handshakes"
    CERT_INVALID_CONTROL_VALID = "certificate_invalid_where_control_valid"
    HTTP_RESET_CONTROL_RESPONDS = "http_reset_control_responds"
    MATCHES_CONTROL = "response_matches_control"
    DIFFERS_FROM_CONTROL = "response_differs_from_control"
    RESPONDED = "responded"
    CONTROL_FAILED = "control_failed_too"
    NO_CONTROL = "no_control"
    FAILED = "web_failure"


@dataclass(frozen=True, slots=True)
class WebEvidence:
    """What the rule looked at. Empty fields did not matter for this verdict."""

    address: str = ""
    port: int = 0
    failure: str = ""                  # the first failing step's class
    status: int = 0
    title: str = ""
    fingerprint: str = ""              # HTTP fingerprint name
    fingerprint_source: str = ""
    fingerprint_countries: tuple[str, ...] = ()
    server: str = ""                   # Server header (the edge's, often)
    edge_operator: str = ""            # recognised from headers (edge.py)
    certificate_valid: bool = False
    differs: tuple[str, ...] = ()      # status | title | body | certificate
    control_observation_id: str = ""
    control_status: int = 0


@dataclass(frozen=True, slots=True)
class WebVerdict:
    status: Status                     # ok | blocked | error | unknown (suspect: evidence.py)
    rule: WebRule
    method: WebMethod = WebMethod.NONE
    evidence: WebEvidence = WebEvidence()
    version: str = WEB_RULES_VERSION


def web_classifier_version(fps: HttpFingerprintSet) -> str:
    return f"{WEB_RULES_VERSION}+http.{fps.version}"


def edge_operator(web: WebObservation) -> str:
    """The CDN whose edge answered, recognised by its own headers ("" if none).
    Cloudflare marks every response it serves: `Server: cloudflare`, `CF-RAY`."""
    if web.header("server").lower() == "cloudflare" or web.header("cf-ray"):
        return "cloudflare"
    if web.header("x-amz-cf-id"):
        return "cloudfront"
    if web.header("x-served-by").startswith("cache-") or web.header("x-fastly-request-id"):
        return "fastly"
    if web.header("server").lower().startswith("akamaighost"):
        return "akamai"
    return ""


def classify_web(web: WebObservation, ctx: WebContext, fps: HttpFingerprintSet) -> WebVerdict:
    ref = _reference(web, ctx)
    verdict = _Judge(WebEvidence(
        address=web.address, port=web.port, failure=_failure(web), status=web.status,
        title=web.title, server=web.header("server"), edge_operator=edge_operator(web),
        certificate_valid=web.certificate_valid,
        control_observation_id=ref.observation_id if ref else "",
        control_status=ref.status if ref else 0), web_classifier_version(fps))

    if web.probe_control:
        ok = web.responded or web.certificate_valid
        return verdict(Status.OK if ok else Status.ERROR, WebRule.CONTROL_VANTAGE)

    # 1. Signals that need no control: the response says it is a block.
    if web.responded or web.redirect_locations:
        fp = fps.match(web)
        if fp is not None:
            return verdict(Status.BLOCKED, WebRule.BLOCKPAGE, WebMethod.BLOCKPAGE,
                           fingerprint=fp.name, fingerprint_source=fp.source,
                           fingerprint_countries=fp.countries)
    if web.status == 451:
        return verdict(Status.BLOCKED, WebRule.HTTP_451, WebMethod.HTTP_451)

    # 2. Differential signals, layer by layer.
    if not web.connected:
        return _connect(web, ctx, verdict)
    if web.tls_attempted and not web.handshake_done:
        return _differential(ctx, verdict,
                             interference=_tls_interference(web),
                             control_ok=lambda c: c.handshake_done,
                             rule=WebRule.TLS_FAILED_CONTROL_HANDSHAKES,
                             method=WebMethod.TLS_INTERFERENCE)
    if web.tls_attempted and not web.certificate_valid:
        return _differential(ctx, verdict, interference=True,
                             control_ok=lambda c: c.certificate_valid,
                             rule=WebRule.CERT_INVALID_CONTROL_VALID,
                             method=WebMethod.TLS_INTERFERENCE)
    if not web.responded:
        return _differential(ctx, verdict, interference=web.http_failure == RESET,
                             control_ok=lambda c: c.responded,
                             rule=WebRule.HTTP_RESET_CONTROL_RESPONDS,
                             method=WebMethod.TCP_RESET)
    return _compare(web, ctx, verdict)


@dataclass(frozen=True, slots=True)
class _Judge:
    """Builds verdicts that share the follow-up's base evidence and version."""

    base: WebEvidence
    version: str

    def __call__(self, status: Status, rule: WebRule, method: WebMethod = WebMethod.NONE,
                 **evidence: Any) -> WebVerdict:
        return WebVerdict(status, rule, method, replace(self.base, **evidence), self.version)


_Check = Callable[[WebObservation], bool]


def _tls_interference(web: WebObservation) -> bool:
    """A reset, silence or an alert right after the ClientHello (SNI filtering);
    a protocol mismatch or an expired certificate is the server's own doing."""
    return web.tls_failure in _TLS_INTERFERENCE_FAILURES or (
        web.tls_failure == TLS_ERROR and "alert" in web.tls_failure_text.lower())


def _failure(web: WebObservation) -> str:
    for failure in (web.connect_failure, web.tls_failure, web.http_failure):
        if failure != "none":
            return failure
    return ""


def _reference(web: WebObservation, ctx: WebContext) -> WebObservation | None:
    """The control follow-up to compare with: same address and port first
    (what ip-drop needs), else same scheme, nearest in time."""
    same = [c for c in ctx.controls if (c.address, c.port) == (web.address, web.port)]
    pool = same or [c for c in ctx.controls if c.scheme == web.scheme] or list(ctx.controls)
    return min(pool, key=lambda c: abs(c.started_at_us - web.started_at_us), default=None)


def _connect(web: WebObservation, ctx: WebContext, verdict: _Judge) -> WebVerdict:
    same_address = [c for c in ctx.controls if (c.address, c.port) == (web.address, web.port)]
    control_connects = any(c.connected for c in same_address)
    if web.connect_failure == TIMEOUT:
        if control_connects:
            return verdict(Status.BLOCKED, WebRule.CONNECT_TIMEOUT_CONTROL_CONNECTS,
                           WebMethod.IP_DROP)
        if not ctx.probe_reached_address and ctx.probe_reaches_other_sites and (
                not same_address):
            # No vantage tried this address (geo-DNS gave the control others),
            # but this probe reaches other sites and this address on no path.
            return verdict(Status.BLOCKED, WebRule.CONNECT_TIMEOUT_NO_PATH, WebMethod.IP_DROP)
    elif web.connect_failure in _RESET_FAILURES and control_connects:
        return verdict(Status.BLOCKED, WebRule.CONNECT_RESET_CONTROL_CONNECTS,
                       WebMethod.TCP_RESET)
    if same_address:
        return verdict(Status.ERROR, WebRule.CONTROL_FAILED if not control_connects
                       else WebRule.FAILED)
    return verdict(Status.UNKNOWN, WebRule.NO_CONTROL)


def _differential(ctx: WebContext, verdict: _Judge, *, interference: bool,
                  control_ok: _Check, rule: WebRule, method: WebMethod) -> WebVerdict:
    """A step failed here: a block only where a control got through that step
    for the same name and the failure looks like interference."""
    if not ctx.controls:
        return verdict(Status.UNKNOWN, WebRule.NO_CONTROL)
    if not any(control_ok(c) for c in ctx.controls):
        return verdict(Status.ERROR, WebRule.CONTROL_FAILED)
    if interference:
        return verdict(Status.BLOCKED, rule, method)
    return verdict(Status.ERROR, WebRule.FAILED)


def _compare(web: WebObservation, ctx: WebContext, verdict: _Judge) -> WebVerdict:
    ref = _reference(web, ctx)
    if ref is None or not ref.responded:
        return verdict(Status.OK, WebRule.RESPONDED)
    differs = tuple(name for name, here, there in (
        ("status", web.status, ref.status), ("title", web.title, ref.title),
        ("body", web.body_sha256, ref.body_sha256),
        ("certificate", web.cert_sha256, ref.cert_sha256)) if here != there)
    if not differs:
        return verdict(Status.OK, WebRule.MATCHES_CONTROL)
    # No fingerprint, no 451: a page of the site's own choosing for this country.
    return verdict(Status.OK, WebRule.DIFFERS_FROM_CONTROL, differs=differs)
