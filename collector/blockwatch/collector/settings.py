"""The collector's settings: one typed object, built at the entry point from
the TOML file (`--config`), the environment (BLOCKWATCH_DB) and flags, then
passed down. Unknown keys are errors, so a typo never falls back to a default.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import dns.rdatatype
import msgspec

from blockwatch.collector.errors import ConfigError
from blockwatch.collector.validation import Limits
from blockwatch.contract.resolvers import check_resolver
from blockwatch.contract.vocabulary import TransportLabel

DEFAULT_PORT = 4443
MAX_MESSAGE_BYTES = 16 << 20


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "blockwatch"


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class ResolverEntry(_Strict, frozen=True):
    """A resolver probes should measure; `countries` empty means every probe."""

    name: str
    transport: TransportLabel = "udp"
    address: str = ""
    port: int = 0
    tls_name: str = ""
    url: str = ""
    countries: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        # the same rules as the probe's own resolver entries: what the collector
        # assigns, a probe must accept
        check_resolver(self.name, transport=self.transport, address=self.address,
                       port=self.port, tls_name=self.tls_name, url=self.url)
        for i, country in enumerate(self.countries):
            if len(country) != 2 or not country.isalpha() or not country.isupper():
                raise ValueError(f"countries[{i}]: {country!r} is not an ISO 3166-1 alpha-2 code")


class AssignmentFile(_Strict, frozen=True):
    qtypes: list[str | int] = msgspec.field(default_factory=lambda: ["A", "AAAA"])
    interval_s: int = 3600
    jitter_s: int = 300
    resolvers: list[ResolverEntry] = msgspec.field(default_factory=list)
    candidate_share: float = 0.2   # mirror candidates: at most this share of a round's names
    discovery_interval_s: float = 60.0   # how often candidates are derived again


DEFAULT_SETTLE_S = 60.0
MAX_SETTLE_S = 86_400.0


def check_settle(value: float, *, field: str = "settle_s", source: str = "") -> float:
    """0..86400 seconds: 0 judges at once (a lab or a test), a day is plenty."""
    if not 0.0 <= value <= MAX_SETTLE_S:
        raise ConfigError(f"{value:g} is not a number of seconds in 0..{MAX_SETTLE_S:g}",
                          field=field, source=source)
    return value


class LimitsFile(_Strict, frozen=True):
    max_measurements: int = 10_000
    max_message_bytes: int = MAX_MESSAGE_BYTES


class ConfigFile(_Strict, frozen=True):
    db: str = ""
    database: str = "blockwatch"
    cluster: str = ""
    data_dir: str = ""
    listen: list[str] = msgspec.field(default_factory=list)
    unix: str = ""
    cert: str = ""
    key: str = ""
    client_ca: str = ""
    insecure: bool = False
    metrics: str = ""
    grace_s: float = 30.0
    idle_timeout_s: float = 10.0    # connections without a call are closed after this
    settle_s: float = DEFAULT_SETTLE_S   # wait before a measurement's verdict (controls)
    # wait before a DNS measurement's site verdict (its web follow-ups); none: 2 x settle_s
    web_settle_s: float | None = None
    limits: LimitsFile = msgspec.field(default_factory=LimitsFile)
    assignment: AssignmentFile = msgspec.field(default_factory=AssignmentFile)


@dataclass(frozen=True, slots=True)
class AssignmentSettings:
    qtypes: tuple[int, ...] = (1, 28)
    interval_s: int = 3600
    jitter_s: int = 300
    resolvers: tuple[ResolverEntry, ...] = ()
    candidate_share: float = 0.2
    discovery_interval_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    db: str
    database: str = "blockwatch"
    cluster: str = ""
    listen: tuple[str, ...] = ()
    unix: str = ""
    cert: Path | None = None
    key: Path | None = None
    client_ca: Path | None = None
    insecure: bool = False
    metrics: str = ""               # host:port for Prometheus, "" = off
    grace_s: float = 30.0
    max_message_bytes: int = MAX_MESSAGE_BYTES
    limits: Limits = field(default_factory=Limits)
    assignment: AssignmentSettings = field(default_factory=AssignmentSettings)
    max_group_rows: int = 100_000   # measurements per ClickHouse insert (group commit)
    idle_timeout_s: float = 10.0    # close connections with no call for this long
    # A verdict compares with the control resolution nearest in time, whose
    # batch (from a control probe) may arrive later: classification waits this
    # long after a measurement arrived.
    settle_s: float = 60.0
    # A site verdict combines a DNS measurement with its web follow-ups, which
    # come after the round's DNS, in the same upload batch or a later one: it
    # waits this long after the measurement arrived (None: twice settle_s).
    web_settle_s: float | None = None

    @property
    def registry_path(self) -> Path:
        return self.data_dir / "registry.db"

    def check_serving(self) -> None:
        """Refuse configurations that would expose plaintext or half-configured TLS."""
        if not self.listen and not self.unix:
            raise ConfigError("nothing to listen on: give --listen and/or --unix", field="listen")
        for address in self.listen:
            check_address(address, "listen")
        if self.metrics:
            check_address(self.metrics, "metrics")
        if bool(self.cert) != bool(self.key):
            raise ConfigError("--cert and --key go together", field="cert")
        if self.client_ca and not self.cert:
            raise ConfigError("--client-ca (mutual TLS) needs --cert and --key",
                              field="client_ca")
        for path in (self.cert, self.key, self.client_ca):
            if path is not None and not path.is_file():
                raise ConfigError(f"{path} does not exist", field="cert")
        if self.cert and self.key:
            check_tls_files(self.cert, self.key, self.client_ca)
        if not self.cert and not self.insecure:
            for address in self.listen:
                if not is_loopback(address):
                    raise ConfigError(
                        f"{address} is not loopback: give --cert/--key, or --insecure to "
                        "serve plaintext deliberately", field="listen")


def check_tls_files(cert: Path, key: Path, client_ca: Path | None) -> None:
    """Load the certificate, key and client CA the way a TLS server will, so a
    mismatch is a clear ConfigError at start (gRPC itself only reports that it
    failed to bind)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # grpc cannot use an encrypted key; never prompt for a passphrase
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"the private key {key} does not match the certificate {cert}",
                              field="key") from exc
        raise ConfigError(f"cannot load the certificate {cert} with the key {key} "
                          f"(PEM, unencrypted key expected): {exc}", field="cert") from exc
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as exc:
            raise ConfigError(f"cannot load the client CA {client_ca} (PEM expected): {exc}",
                              field="client_ca") from exc


_HOSTNAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?")


def check_address(address: str, field: str) -> None:
    """host:port, [v6]:port or :port; refused here, before anything is bound, so a
    typo never leaves half a server (or its socket file) behind."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{address!r} is not host:port (port 0..65535)", field=field)
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        valid = _is_ip(host) and ":" in host
    else:
        valid = not host or _is_ip(host) or bool(_HOSTNAME.fullmatch(host))
    if not valid:
        raise ConfigError(f"{address!r}: {host!r} is not an IP address or host name",
                          field=field)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _qtype(value: str | int) -> int:
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise ConfigError(f"{value} is not in 1..65535", field="assignment.qtypes")
        return value
    try:
        return int(dns.rdatatype.from_text(value))
    except dns.rdatatype.UnknownRdatatype as exc:
        raise ConfigError(f"{value!r} is not a query type", field="assignment.qtypes") from exc


def _positive(value: float, name: str) -> float:
    if not value > 0:
        raise ConfigError(f"{value} must be a positive number of seconds", field=name)
    return value


def load_config_file(path: Path | None) -> ConfigFile:
    if path is None:
        return ConfigFile()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
        return msgspec.convert(data, ConfigFile)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from exc
    except msgspec.ValidationError as exc:
        raise ConfigError(str(exc), source=str(path)) from exc


def build_settings(config: Path | None = None, *, db: str | None = None,
                   data_dir: Path | None = None, database: str | None = None,
                   cluster: str | None = None, listen: list[str] | None = None,
                   unix: str | None = None, cert: Path | None = None, key: Path | None = None,
                   client_ca: Path | None = None, insecure: bool | None = None,
                   metrics: str | None = None, settle_s: float | None = None) -> Settings:
    """Flags beat the environment, which beats the file, which beats defaults."""
    f = load_config_file(config)
    directory = data_dir or (Path(f.data_dir) if f.data_dir else default_data_dir())
    dsn = db or os.environ.get("BLOCKWATCH_DB") or f.db or f"chdb://{directory / 'db'}"
    if not dsn.startswith(("chdb://", "http://", "https://")):
        raise ConfigError(f"{dsn!r}: expected chdb:///path or http(s)://host:port", field="db")
    a = f.assignment
    if not 1 <= a.interval_s <= 7 * 86400 or not 0 <= a.jitter_s <= a.interval_s:
        raise ConfigError("interval_s must be in 1..604800 and jitter_s in 0..interval_s",
                          field="assignment", source=str(config))
    if not 0.0 <= a.candidate_share <= 0.5:
        raise ConfigError(f"{a.candidate_share} is not in 0..0.5",
                          field="assignment.candidate_share", source=str(config))
    if not 1.0 <= a.discovery_interval_s <= 86400.0:
        raise ConfigError(f"{a.discovery_interval_s} is not in 1..86400",
                          field="assignment.discovery_interval_s", source=str(config))
    for i, r in enumerate(a.resolvers):
        for j, country in enumerate(r.countries):
            if len(country) != 2 or not country.isupper():
                raise ConfigError(f"{country!r} is not an upper-case ISO country code",
                                  field=f"assignment.resolvers[{i}].countries[{j}]")
    def path(p: str) -> Path | None:
        return Path(p) if p else None

    return Settings(
        data_dir=directory, db=dsn, database=database or f.database,
        cluster=cluster if cluster is not None else f.cluster,
        listen=tuple(listen if listen else f.listen),
        unix=unix if unix is not None else f.unix,
        cert=cert or path(f.cert), key=key or path(f.key),
        client_ca=client_ca or path(f.client_ca),
        insecure=insecure if insecure else f.insecure,
        metrics=metrics if metrics is not None else f.metrics,
        grace_s=f.grace_s, idle_timeout_s=_positive(f.idle_timeout_s, "idle_timeout_s"),
        settle_s=check_settle(settle_s, field="--settle") if settle_s is not None
        else check_settle(f.settle_s, source=str(config or "")),
        web_settle_s=None if f.web_settle_s is None else check_settle(
            f.web_settle_s, field="web_settle_s", source=str(config or "")),
        max_message_bytes=f.limits.max_message_bytes,
        limits=Limits(max_measurements=f.limits.max_measurements),
        assignment=AssignmentSettings(tuple(_qtype(q) for q in a.qtypes), a.interval_s,
                                      a.jitter_s, tuple(a.resolvers), a.candidate_share,
                                      a.discovery_interval_s),
    )
