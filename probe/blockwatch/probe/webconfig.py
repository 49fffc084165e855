"""The `[web]` section: what the web follow-up contacts and how hard.

A msgspec struct in the style of config.py, so that `ProbeConfig` can carry
it as `web: WebConfig = WebConfig()`; every error names its field
(`web.body_bytes: ...`) and unknown keys are errors.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from blockwatch.probe.errors import ConfigError

# RFC 9110 token: what a header name may be
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
# What the web rules read (analysis webverdicts.edge_operator, httpfingerprints):
# an edge marks its responses with more than `Server` (a 451 behind Cloudflare
# carries CF-RAY even where a proxy rewrites Server), and block pages are matched
# on X-App-Url too.
DEFAULT_KEPT_HEADERS = ("server", "location", "content-type", "content-length", "via",
                        "cf-ray", "x-amz-cf-id", "x-served-by", "x-fastly-request-id",
                        "x-app-url")
MAX_BODY_PREFIX = 65_536         # what one observation may carry of a body
MAX_REDIRECTS = 5


class WebConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    enabled: bool = True
    https_ports: tuple[int, ...] = (443,)
    http_ports: tuple[int, ...] = (80,)
    # per DNS answer: its first N IPv4 and first N IPv6 addresses are followed
    ipv4_addresses: int = 1
    ipv6_addresses: int = 1
    max_followups_per_name: int = 16
    connect_timeout_s: float = 5.0
    tls_timeout_s: float = 5.0
    http_timeout_s: float = 10.0     # the whole exchange: head and body
    body_bytes: int = 8192           # body prefix kept in the observation
    max_body_bytes: int = 1_048_576  # read at most this much for length and hash
    max_header_bytes: int = 65_536   # a response head larger than this is malformed
    concurrency: int = 32            # follow-ups in flight
    destination_concurrency: int = 2  # connections in flight to one address
    destination_rate: float = 10.0   # new connections per second to one address
    user_agent: str = "blockwatch-probe/0.1 (measurement; see docs/web.md)"
    keep_headers: tuple[str, ...] = ()   # kept in addition to DEFAULT_KEPT_HEADERS
    follow_redirects: int = 0        # 0: record Location, do not follow
    ca_file: str = ""                # replaces the system store for verification
    # loopback, private, link-local...: a sinkhole answer such as 127.0.0.1
    # must not make the probe talk to its own host or LAN (the lab sets it)
    allow_non_global: bool = False

    def __post_init__(self) -> None:
        for field in ("https_ports", "http_ports"):
            ports: tuple[int, ...] = getattr(self, field)
            for i, port in enumerate(ports):
                if not 1 <= port <= 65535:
                    raise ValueError(f"{field}[{i}]: {port} is not in 1..65535")
            if len(set(ports)) != len(ports) or len(ports) > 4:
                raise ValueError(f"{field}: at most 4 distinct ports")
        if set(self.https_ports) & set(self.http_ports):
            raise ValueError("http_ports: a port cannot be both https and http")
        _within("ipv4_addresses", self.ipv4_addresses, 0, 8)
        _within("ipv6_addresses", self.ipv6_addresses, 0, 8)
        _within("max_followups_per_name", self.max_followups_per_name, 1, 64)
        _within("connect_timeout_s", self.connect_timeout_s, 0.05, 60)
        _within("tls_timeout_s", self.tls_timeout_s, 0.05, 60)
        _within("http_timeout_s", self.http_timeout_s, 0.05, 120)
        _within("body_bytes", self.body_bytes, 0, MAX_BODY_PREFIX)
        _within("max_body_bytes", self.max_body_bytes, self.body_bytes, 64 * 1_048_576)
        _within("max_header_bytes", self.max_header_bytes, 1024, 1_048_576)
        _within("concurrency", self.concurrency, 1, 1024)
        _within("destination_concurrency", self.destination_concurrency, 1, 64)
        _within("destination_rate", self.destination_rate, 0.01, 100_000)
        _within("follow_redirects", self.follow_redirects, 0, MAX_REDIRECTS)
        if not 1 <= len(self.user_agent) <= 256 or not self.user_agent.isprintable():
            raise ValueError("user_agent: 1-256 printable characters")
        for i, name in enumerate(self.keep_headers):
            if not _TOKEN.match(name):
                raise ValueError(f"keep_headers[{i}]: {name!r} is not a header name")
        if len(self.keep_headers) > 16:
            raise ValueError("keep_headers: at most 16 extra headers")
        if self.ca_file and not Path(self.ca_file).is_file():
            raise ValueError(f"ca_file: {self.ca_file} does not exist")

    def kept_headers(self) -> frozenset[str]:
        return frozenset(DEFAULT_KEPT_HEADERS) | {h.lower() for h in self.keep_headers}


def _within(field: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{field}: {value} is not in {low:g}..{high:g}")


def parse_web_config(raw: object, source: str = "") -> WebConfig:
    """Validate the `[web]` table of a probe config; raises ConfigError naming `web.<field>`."""
    try:
        return msgspec.convert(raw, WebConfig)
    except msgspec.ValidationError as exc:
        message, at, where = str(exc).rpartition(" - at `")
        if not at:
            message, where = str(exc), ""
        path = where.rstrip("`").removeprefix("$").lstrip(".")
        unknown = re.fullmatch(r"Object contains unknown field `(\w+)`", message)
        if unknown:
            path, message = unknown[1], "unknown setting (check the spelling)"
        field, sep, detail = message.partition(": ")
        if sep and re.fullmatch(r"[a-z_0-9]+(\[\d+\])?", field):
            path, message = field, detail
        full = f"web.{path}" if path else "web"
        raise ConfigError(message, field=full, source=source) from None
