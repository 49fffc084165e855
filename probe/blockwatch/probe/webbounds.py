"""Bounded web observations: what a hostile web server can make a probe record.

The engine already bounds what it reads (head, body, SANs, header values);
this module bounds what one observation *keeps*, so its record always passes
the collector's validation (collector webvalidation.WebLimits, wider than
these) and a batch of them fits the wire. `tests/unit/test_web_contract.py`
builds the worst case and checks it against the collector's limits.
"""

from __future__ import annotations

import dataclasses

from blockwatch.probe.webconfig import MAX_BODY_PREFIX
from blockwatch.probe.webobservation import Certificate, HttpStep, TlsStep, WebObservation
from blockwatch.probe.webparse import MAX_DN, MAX_HEADER_VALUE, MAX_HEADERS, MAX_TITLE

MAX_TEXT = 4096            # failure texts, verify_error
MAX_URL = 2048
MAX_REASON = 256
MAX_SANS_KEPT = 64         # a certificate naming more keeps its first 64 (truncated)
MAX_SAN = 255
MAX_DNS_IDS = 64           # DNS measurements named as provenance
MAX_REDIRECTS = 5
MAX_HEADER_NAME = 64
MAX_CIPHER = 128
MAX_HTTP_VERSION = 16
# Everything above at its maximum stays below this (checked by the unit test).
MAX_WEB_OBSERVATION_BYTES = 192 * 1024


def _cut(text: str, limit: int) -> tuple[str, bool]:
    if len(text.encode()) <= limit:
        return text, False
    return text.encode()[:limit].decode("utf-8", "ignore"), True


def bound_web_observation(o: WebObservation) -> WebObservation:
    """`o` with every field within its bound; `truncated` says something was cut."""
    cut = False

    def text(value: str, limit: int) -> str:
        nonlocal cut
        value, was = _cut(value, limit)
        cut |= was
        return value

    connect = o.connect
    if len(connect.failure_text.encode()) > MAX_TEXT:
        connect = dataclasses.replace(connect, failure_text=text(connect.failure_text, MAX_TEXT))
    tls = o.tls
    if tls is not None:
        certificate = tls.certificate
        if certificate is not None:
            sans = tuple(text(s, MAX_SAN) for s in certificate.sans[:MAX_SANS_KEPT])
            cut |= len(certificate.sans) > MAX_SANS_KEPT
            certificate = Certificate(text(certificate.subject, MAX_DN),
                                      text(certificate.issuer, MAX_DN), sans,
                                      certificate.not_before_s, certificate.not_after_s,
                                      certificate.sha256[:32])
        tls = TlsStep(tls.duration_us, tls.version[:MAX_HTTP_VERSION],
                      text(tls.cipher, MAX_CIPHER), certificate, tls.chain_verified,
                      tls.name_matches, text(tls.verify_error, MAX_TEXT), tls.failure,
                      text(tls.failure_text, MAX_TEXT))

    def http(step: HttpStep) -> HttpStep:
        nonlocal cut
        headers = tuple((text(k, MAX_HEADER_NAME), text(v, MAX_HEADER_VALUE))
                        for k, v in step.headers[:MAX_HEADERS])
        cut |= len(step.headers) > MAX_HEADERS
        prefix = step.body_prefix[:MAX_BODY_PREFIX]
        cut |= len(prefix) < len(step.body_prefix)
        return dataclasses.replace(
            step, url=text(step.url, MAX_URL), reason=text(step.reason, MAX_REASON),
            http_version=text(step.http_version, MAX_HTTP_VERSION), headers=headers,
            body_sha256=step.body_sha256[:32], body_prefix=prefix,
            title=text(step.title, MAX_TITLE), failure_text=text(step.failure_text, MAX_TEXT))

    main = http(o.http) if o.http is not None else None
    hops = tuple(http(h) for h in o.redirects[:MAX_REDIRECTS])
    cut |= len(o.redirects) > MAX_REDIRECTS
    ids = o.dns_measurement_ids[:MAX_DNS_IDS]
    cut |= len(o.dns_measurement_ids) > MAX_DNS_IDS
    bounded = dataclasses.replace(o, connect=connect, tls=tls, http=main, redirects=hops,
                                  dns_measurement_ids=ids, truncated=o.truncated or cut)
    return bounded
