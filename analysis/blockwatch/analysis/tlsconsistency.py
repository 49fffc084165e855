"""TLS-consistent DNS answers (as in OONI's pipeline): an answer address is
consistent with the name when the web follow-up to it completed a TLS handshake
with SNI = the name and got a certificate valid for that name. A censor that
forges the answer cannot also present such a certificate, so a CDN or geo-DNS
answer that shares no prefix with the control's is still the site's own.

Pure. The DNS oracle takes the result as an optional argument
(`classify(..., tls_consistent=...)`); docs/verdicts.md says how it plugs in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from blockwatch.analysis.webobservation import WebObservation


@dataclass(frozen=True, slots=True)
class TlsEvidence:
    """For one name: addresses that presented a certificate valid for it, and
    addresses that completed a handshake with a certificate that is not."""

    valid: frozenset[str] = frozenset()
    invalid: frozenset[str] = frozenset()

    def consistent(self, addresses: Iterable[str]) -> bool:
        """At least one address of the answer is TLS-consistent and none showed
        an invalid certificate: an answer mixing a real address with a forged
        one is not consistent."""
        answer = set(addresses)
        return bool(answer & self.valid) and not answer & self.invalid


def tls_evidence(name: str, follow_ups: Iterable[WebObservation]) -> TlsEvidence:
    """What the follow-ups of `name` (any vantage's own, near in time) showed."""
    key = name.rstrip(".").lower()
    valid: set[str] = set()
    invalid: set[str] = set()
    for web in follow_ups:
        if web.name.rstrip(".").lower() != key or not web.handshake_done:
            continue
        (valid if web.certificate_valid else invalid).add(web.address)
    return TlsEvidence(frozenset(valid), frozenset(invalid))
