"""The leaf certificate as recorded, from either of the two ways the probe gets it.

A certificate that verified comes with the ssl module's decoded form
(`getpeercert()`), which costs nothing more. One that did not verify comes as
DER only (`getpeercert()` is empty then) and is parsed with `cryptography`,
imported on first use because it adds ~16 MB to the probe's RSS.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Mapping
from typing import Any

from blockwatch.probe.webobservation import Certificate
from blockwatch.probe.webparse import MAX_SANS, format_dn, san_text


def from_peercert(decoded: Mapping[str, Any], der: bytes) -> Certificate:
    """From `SSLObject.getpeercert()` (a verified handshake) and the DER bytes."""
    sans = tuple(san_text(kind, value)
                 for kind, value in decoded.get("subjectAltName", ())[:MAX_SANS])
    return Certificate(
        subject=format_dn(_rdns(decoded.get("subject", ()))),
        issuer=format_dn(_rdns(decoded.get("issuer", ()))),
        sans=sans,
        not_before_s=int(ssl.cert_time_to_seconds(decoded["notBefore"])),
        not_after_s=int(ssl.cert_time_to_seconds(decoded["notAfter"])),
        sha256=hashlib.sha256(der).digest(),
    )


def _rdns(rdns: Any) -> list[tuple[str, str]]:
    return [(str(key), str(value)) for rdn in rdns for key, value in rdn]


def from_der(der: bytes) -> Certificate:
    """From DER alone (a handshake that did not verify); raises ValueError if unparsable."""
    from cryptography import x509  # lazily: see the module docstring

    cert = x509.load_der_x509_certificate(der)
    sans: list[str] = []
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    else:
        for general in list(extension.value)[:MAX_SANS]:
            sans.append(_general_name(general))
    return Certificate(
        subject=format_dn(_attributes(cert.subject)),
        issuer=format_dn(_attributes(cert.issuer)),
        sans=tuple(sans),
        not_before_s=int(cert.not_valid_before_utc.timestamp()),
        not_after_s=int(cert.not_valid_after_utc.timestamp()),
        sha256=hashlib.sha256(der).digest(),
    )


def _attributes(name: Any) -> list[tuple[str, str]]:
    return [(attribute.oid.dotted_string, _text(attribute.value)) for attribute in name]


def _text(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _general_name(general: Any) -> str:
    from cryptography import x509

    if isinstance(general, x509.DNSName):
        return san_text("DNS", general.value)
    if isinstance(general, x509.IPAddress):
        return san_text("IP", str(general.value))
    if isinstance(general, x509.RFC822Name):
        return san_text("email", general.value)
    if isinstance(general, x509.UniformResourceIdentifier):
        return san_text("URI", general.value)
    return san_text(type(general).__name__, str(general.value))
