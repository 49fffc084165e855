"""A web follow-up as analysis reads it: one row of `web_observations`
(migration 0006_web.sql, docs/web.md) reduced to what the web rules use.
Plain values, no I/O; failure classes are the probe's closed taxonomy
(docs/failures.md, the contract's Failure) spelled as stored ("none",
"timeout", ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from blockwatch.contract.vocabulary import Failure

# the failure classes the web rules tell apart, as the Enum8 columns store them
NONE = Failure.NONE.label
TIMEOUT = Failure.TIMEOUT.label
REFUSED = Failure.CONNECTION_REFUSED.label
RESET = Failure.CONNECTION_RESET.label
TLS_ERROR = Failure.TLS_ERROR.label


@dataclass(frozen=True, slots=True)
class WebObservation:
    observation_id: str
    probe_name: str
    probe_country: str
    round_id: str
    started_at_us: int
    name: str
    address: str
    port: int = 443
    scheme: str = "https"                 # https | http
    probe_control: bool = False           # an unfiltered vantage
    connect_failure: str = NONE
    tls_attempted: bool = False
    tls_failure: str = NONE
    tls_failure_text: str = ""
    has_certificate: bool = False
    cert_sha256: str = ""
    cert_sans: tuple[str, ...] = ()
    chain_verified: bool = False
    name_matches: bool = False            # the leaf is valid for `name`
    http_sent: bool = False
    status: int = 0                       # 0: no response head
    headers: tuple[tuple[str, str], ...] = ()   # lower-case names, as kept
    body_sha256: str = ""
    body_prefix: bytes = b""
    title: str = ""
    http_failure: str = NONE
    redirect_locations: tuple[str, ...] = ()

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k == name), "")

    @property
    def connected(self) -> bool:
        return self.connect_failure == NONE

    @property
    def handshake_done(self) -> bool:
        """TLS with SNI = name completed (whatever the certificate said)."""
        return self.tls_attempted and self.tls_failure == NONE and self.has_certificate

    @property
    def certificate_valid(self) -> bool:
        """A certificate valid for the name: chain verifies and names it."""
        return self.handshake_done and self.chain_verified and self.name_matches

    @property
    def responded(self) -> bool:
        return self.http_sent and self.status > 0


@dataclass(frozen=True, slots=True)
class WebContext:
    """What a web verdict is judged against.

    `controls`: the unfiltered vantages' follow-ups of the same name near in
    time (any address). `probe_reached_address`: this probe completed a TCP
    connect to this address on some path (resolver, port) in the round;
    `probe_reaches_other_sites`: it connected to other names' addresses in the
    round (its own network works).
    """

    controls: tuple[WebObservation, ...] = ()
    probe_reached_address: bool = False
    probe_reaches_other_sites: bool = False
