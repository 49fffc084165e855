"""The probe's configuration: one TOML file, typed and validated.

Every error names the offending field (`resolvers[2].url: ...`), and unknown
keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

import dns.rdatatype
import msgspec

from blockwatch.contract.resolvers import NAME, check_resolver
from blockwatch.contract.vocabulary import Transport, TransportLabel
from blockwatch.probe.dnsmessage import normalize_domain
from blockwatch.probe.errors import ConfigError
from blockwatch.probe.resolvers import ResolverSpec, default_resolvers
from blockwatch.probe.webconfig import WebConfig

DEFAULT_QTYPES = [int(dns.rdatatype.A), int(dns.rdatatype.AAAA)]
_DOT, _DOH = Transport.DOT.label, Transport.DOH.label


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class ResolverConfig(_Strict, frozen=True):
    name: str
    transport: TransportLabel = "udp"
    address: str = ""
    port: int = 0
    tls_name: str = ""
    url: str = ""
    ca_file: str = ""

    def __post_init__(self) -> None:
        check_resolver(self.name, transport=self.transport, address=self.address,
                       port=self.port, tls_name=self.tls_name, url=self.url)
        if self.ca_file and self.transport not in {_DOT, _DOH}:
            raise ValueError("ca_file: only used with transports 'dot' and 'doh'")
        if self.ca_file and not Path(self.ca_file).is_file():
            raise ValueError(f"ca_file: {self.ca_file} does not exist")

    def spec(self) -> ResolverSpec:
        return ResolverSpec(self.name, Transport.from_label(self.transport), self.address,
                            self.port, self.tls_name, self.url, self.ca_file)


class CollectorConfig(_Strict, frozen=True):
    addresses: list[str]
    tls: bool = True
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    batch_size: int = 500
    # bytes of measurements per batch: one message must stay under the collector's
    # gRPC limit (16 MiB by default); a smaller one is learnt from its refusals
    max_batch_bytes: int = 4 << 20
    window: int = 4
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.addresses:
            raise ValueError("addresses: at least one collector address is required")
        for i, address in enumerate(self.addresses):
            _check_collector_address(address, f"addresses[{i}]")
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError(f"batch_size: {self.batch_size} is not in 1..10000")
        if not 16 << 10 <= self.max_batch_bytes <= 16 << 20:
            raise ValueError(f"max_batch_bytes: {self.max_batch_bytes} is not in "
                             f"{16 << 10}..{16 << 20} (16 KiB..16 MiB)")
        if not 1 <= self.window <= 64:
            raise ValueError(f"window: {self.window} is not in 1..64")
        if not 1 <= self.timeout_s <= 600:
            raise ValueError(f"timeout_s: {self.timeout_s} is not in 1..600")
        if bool(self.client_cert) != bool(self.client_key):
            raise ValueError("client_cert: client_cert and client_key go together")
        for name in ("ca_file", "client_cert", "client_key"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ValueError(f"{name}: {path} does not exist")
        if not self.tls and (self.ca_file or self.client_cert):
            raise ValueError("tls: ca_file and client_cert need tls = true")


class ScheduleConfig(_Strict, frozen=True):
    interval_s: float = 3600.0
    jitter_s: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.interval_s <= 7 * 86400:
            raise ValueError(f"interval_s: {self.interval_s} is not in 1..604800")
        if not 0 <= self.jitter_s <= self.interval_s:
            raise ValueError(f"jitter_s: {self.jitter_s} must be between 0 and interval_s")


class LimitsConfig(_Strict, frozen=True):
    qps: float = 50.0               # per resolver
    concurrency: int = 32           # queries awaiting their first reply, per resolver
    # TCP/DoT/DoH open a connection per query; resolvers cap connections per
    # client (unbound: 10 by default) and reset the rest
    stream_concurrency: int = 4
    timeout_s: float = 5.0
    listen_window_s: float = 0.3    # keep listening after the first UDP reply

    def __post_init__(self) -> None:
        if not 0 < self.qps <= 100_000:
            raise ValueError(f"qps: {self.qps} is not in (0, 100000]")
        if not 1 <= self.concurrency <= 8192:
            raise ValueError(f"concurrency: {self.concurrency} is not in 1..8192")
        if not 1 <= self.stream_concurrency <= 256:
            raise ValueError(f"stream_concurrency: {self.stream_concurrency} is not in 1..256")
        if not 0.05 <= self.timeout_s <= 120:
            raise ValueError(f"timeout_s: {self.timeout_s} is not in 0.05..120")
        if not 0 <= self.listen_window_s <= 10:
            raise ValueError(f"listen_window_s: {self.listen_window_s} is not in 0..10")


class TargetsConfig(_Strict, frozen=True):
    domains: list[str] = []
    controls: list[str] = []
    file: str = ""                  # one name per line; "# comments"; "name,control"

    def __post_init__(self) -> None:
        for field in ("domains", "controls"):
            for i, domain in enumerate(getattr(self, field)):
                try:
                    normalize_domain(domain)
                except ValueError as exc:
                    raise ValueError(f"{field}[{i}]: {exc}") from None
        if self.file and not Path(self.file).is_file():
            raise ValueError(f"file: {self.file} does not exist")


class SpoolConfig(_Strict, frozen=True):
    path: str = ""
    max_mb: float = 0.0             # 0: unbounded
    on_full: Literal["pause", "drop-oldest"] = "pause"
    # fsync every commit: survives a power cut, not only a crash; costs an fsync
    # per commit (every 20 ms while measuring)
    fsync: bool = False

    def __post_init__(self) -> None:
        if self.max_mb < 0:
            raise ValueError(f"max_mb: {self.max_mb} must be >= 0 (0 means unbounded)")


class ProbeConfig(_Strict, frozen=True):
    name: str = "probe"
    credentials_file: str = ""
    qtypes: list[str] = []           # empty: the assignment's, else A and AAAA
    identity_checks: bool = True
    keep_wire: bool = False
    resolv_conf: str = "/etc/resolv.conf"
    collector: CollectorConfig | None = None
    schedule: ScheduleConfig = ScheduleConfig()
    limits: LimitsConfig = LimitsConfig()
    targets: TargetsConfig = TargetsConfig()
    spool: SpoolConfig = SpoolConfig()
    web: WebConfig = WebConfig()     # the follow-up of target names' answers (docs/web.md)
    resolvers: list[ResolverConfig] = []

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"name: {self.name!r} must be 1-63 letters, digits, '.', '_' or '-'")
        for i, qtype in enumerate(self.qtypes):
            try:
                dns.rdatatype.from_text(qtype)
            except dns.rdatatype.UnknownRdatatype:
                raise ValueError(f"qtypes[{i}]: unknown query type {qtype!r}") from None
        names = [r.name for r in self.resolvers]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise ValueError(f"resolvers: name {duplicate!r} is used twice")
        if self.credentials_file and not Path(self.credentials_file).is_file():
            raise ValueError(f"credentials_file: {self.credentials_file} does not exist")
        if (self.collector is not None and not self.credentials_file
                and not self.collector.client_cert):
            raise ValueError("credentials_file: required when a collector is configured "
                             "(unless collector.client_cert identifies the probe)")

    def resolver_specs(self) -> list[ResolverSpec]:
        return [r.spec() for r in self.resolvers] if self.resolvers else default_resolvers()

    def qtype_numbers(self) -> list[int]:
        return [int(dns.rdatatype.from_text(q)) for q in self.qtypes]


    def spool_path(self) -> Path:
        if self.spool.path:
            return Path(self.spool.path)
        state = os.environ.get("STATE_DIRECTORY") or os.environ.get("XDG_STATE_HOME")
        base = Path(state.split(":")[0]) if state else Path.home() / ".local" / "state"
        return base / "blockwatch-probe" / f"{self.name}.spool.db"

    def token(self) -> str:
        """The probe's secret, read from credentials_file (first non-empty line); ""
        when a client certificate identifies the probe instead."""
        if not self.credentials_file and self.collector and self.collector.client_cert:
            return ""
        if not self.credentials_file:
            raise ConfigError("no credentials_file configured", field="credentials_file")
        path = Path(self.credentials_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}",
                              field="credentials_file") from exc
        token = next((line.strip() for line in text.splitlines() if line.strip()), "")
        if not token:
            raise ConfigError(f"{path} holds no token", field="credentials_file")
        return token


def load_config(path: Path) -> ProbeConfig:
    """Read and validate a probe TOML file; raises ConfigError naming the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from exc
    return parse_config(raw, source=str(path))


def parse_config(raw: dict[str, object], source: str = "") -> ProbeConfig:
    try:
        return msgspec.convert(raw, ProbeConfig)
    except msgspec.ValidationError as exc:
        text = str(exc)
        message, at, where = text.rpartition(" - at `")
        if not at:
            message, where = text, ""
        path = where.rstrip("`").removeprefix("$").lstrip(".")
        unknown = re.fullmatch(r"Object contains unknown field `(\w+)`", message)
        if unknown:
            path = f"{path}.{unknown[1]}" if path else unknown[1]
            message = "unknown setting (check the spelling)"
        field, sep, detail = message.partition(": ")
        if sep and re.fullmatch(r"[a-z_]+(\[\d+\])?(\.[a-z_]+)?", field):
            path = f"{path}.{field}" if path else field
            message = detail
        raise ConfigError(message, field=path, source=source) from None


def _check_collector_address(address: str, field: str) -> None:
    if address.startswith("unix:"):
        if len(address) <= len("unix:"):
            raise ValueError(f"{field}: {address!r} needs a socket path after 'unix:'")
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{field}: {address!r} must be host:port, [v6]:port or unix:/path")
    host = host.removeprefix("[").removesuffix("]")
    if not re.fullmatch(r"[A-Za-z0-9.:-]+", host):
        raise ValueError(f"{field}: {host!r} is not a valid host")
