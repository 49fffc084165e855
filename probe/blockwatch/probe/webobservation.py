"""What a web follow-up records: observations of TCP, TLS and HTTP, never verdicts.

One `WebObservation` per (name, address, port) of a follow-up: port 443 carries
the TCP connect, the TLS handshake and an HTTP/1.1 request over it; port 80 the
TCP connect and the plain request. Failures use the probe's closed taxonomy
(`observation.Failure`, docs/failures.md) beside the raw text; docs/web.md says
which step produces which class.
"""

from __future__ import annotations

from dataclasses import dataclass

# Re-exported (`X as X`): the probe's modules take them from here.
from blockwatch.contract.vocabulary import Scheme as Scheme  # noqa: PLC0414
from blockwatch.contract.vocabulary import TlsVersion as TlsVersion  # noqa: PLC0414
from blockwatch.probe.observation import Failure


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One (name, address) to follow in a round, and the DNS measurements whose
    answers named that address (its provenance)."""

    name: str
    address: str
    dns_measurement_ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Certificate:
    """The leaf certificate the server presented, whether or not it verified."""

    subject: str                 # RFC 4514 order, e.g. "CN=site.example,O=Org"
    issuer: str
    sans: tuple[str, ...]        # "DNS:name" / "IP:address", in certificate order
    not_before_s: int            # Unix seconds
    not_after_s: int
    sha256: bytes                # of the DER encoding


@dataclass(frozen=True, slots=True)
class ConnectStep:
    duration_us: int
    failure: Failure = Failure.NONE
    failure_text: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is Failure.NONE


@dataclass(frozen=True, slots=True)
class TlsStep:
    """The handshake with SNI = the name.

    `chain_verified`: the chain verifies against the system store (or the
    configured CA file); `name_matches`: the leaf is valid for the name.
    A certificate that does not verify is still recorded (from a second,
    unverified handshake) and the HTTP request then goes over that one.
    """

    duration_us: int
    version: str = ""            # "TLSv1.3"
    cipher: str = ""
    certificate: Certificate | None = None
    chain_verified: bool = False
    name_matches: bool = False
    verify_error: str = ""       # OpenSSL's reason when verification failed
    failure: Failure = Failure.NONE
    failure_text: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is Failure.NONE


@dataclass(frozen=True, slots=True)
class HttpStep:
    """One HTTP/1.1 exchange: `GET <path>` with `Host: <name>`."""

    url: str
    duration_us: int
    first_byte_us: int = 0       # from sending the request to the first response byte
    status: int = 0              # 0: no response head arrived
    reason: str = ""
    http_version: str = ""
    headers: tuple[tuple[str, str], ...] = ()   # lower-case names, the kept set, in order
    body_length: int = 0         # bytes read (all of them unless body_truncated)
    body_truncated: bool = False  # stopped at web.max_body_bytes
    body_sha256: bytes = b""     # of the bytes read
    body_prefix: bytes = b""     # the first web.body_bytes
    title: str = ""
    failure: Failure = Failure.NONE
    failure_text: str = ""

    def header(self, name: str) -> str:
        """The first kept value of header `name` (lower case), or ""."""
        return next((value for key, value in self.headers if key == name), "")


@dataclass(frozen=True, slots=True)
class WebObservation:
    """The follow-up of one (name, address) on one port."""

    observation_id: bytes
    round_id: str
    started_at_us: int
    duration_us: int
    name: str
    address: str
    port: int
    scheme: str                  # "https" or "http"
    dns_measurement_ids: tuple[bytes, ...]
    connect: ConnectStep
    tls: TlsStep | None = None   # https only; None when the connect failed
    http: HttpStep | None = None  # None when no request could be sent
    redirects: tuple[HttpStep, ...] = ()  # followed hops (opt-in), in order
    truncated: bool = False      # content cut to the probe's bound (webbounds.py)

    @property
    def failure(self) -> Failure:
        """The first step's failure, or NONE when every step completed."""
        for step in (self.connect, self.tls, self.http, *self.redirects):
            if step is not None and step.failure is not Failure.NONE:
                return step.failure
        return Failure.NONE
