"""Helpers for asserting web observations exactly: what a certificate file holds
(read by the openssl CLI, not by the code under test), and observations with
their clock readings and ids zeroed so the rest compares with ==."""

from __future__ import annotations

import dataclasses
import hashlib
import ssl
import subprocess
from pathlib import Path

from blockwatch.probe.webobservation import (
    Certificate,
    ConnectStep,
    HttpStep,
    TlsStep,
    WebObservation,
)


def leaf_certificate(chain_pem: Path) -> Certificate:
    """The leaf of a PEM chain, as `openssl x509` reads it."""
    pem = chain_pem.read_text()
    leaf = pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-issuer", "-nameopt", "RFC2253", "-dates",
         "-ext", "subjectAltName"], input=leaf, capture_output=True, text=True, check=True,
    ).stdout
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line
                  and not line.startswith(" "))
    sans_line = out.split("Subject Alternative Name", 1)[1].splitlines()[1].strip()
    sans = tuple(s.strip().replace("IP Address:", "IP:") for s in sans_line.split(","))
    return Certificate(
        subject=fields["subject"], issuer=fields["issuer"], sans=sans,
        not_before_s=int(ssl.cert_time_to_seconds(fields["notBefore"])),
        not_after_s=int(ssl.cert_time_to_seconds(fields["notAfter"])),
        sha256=hashlib.sha256(ssl.PEM_cert_to_DER_cert(leaf)).digest(),
    )


def settled(o: WebObservation) -> WebObservation:
    """`o` without what differs run to run: ids, clock readings, the TLS cipher."""
    tls = o.tls and dataclasses.replace(o.tls, duration_us=0, cipher="")
    return dataclasses.replace(
        o, observation_id=b"", started_at_us=0, duration_us=0,
        connect=dataclasses.replace(o.connect, duration_us=0), tls=tls,
        http=o.http and _settled_http(o.http),
        redirects=tuple(_settled_http(h) for h in o.redirects))


def _settled_http(h: HttpStep) -> HttpStep:
    return dataclasses.replace(h, duration_us=0, first_byte_us=0)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


__all__ = ["ConnectStep", "HttpStep", "TlsStep", "leaf_certificate", "settled", "sha256"]
