"""Resolver specifications: what the probe measures through, and the built-in default set."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from blockwatch.contract.resolvers import DEFAULT_RESOLVERS, SYSTEM
from blockwatch.probe.errors import ConfigError
from blockwatch.probe.observation import ResolverRef, Transport

log = logging.getLogger(__name__)

DEFAULT_PORTS = {Transport.UDP: 53, Transport.TCP: 53, Transport.DOT: 853, Transport.DOH: 443}

# Local stubs answer from a cache and forward elsewhere: measuring one says
# little about the network's resolver. systemd-resolved listens on 127.0.0.53
# (stub) and 127.0.0.54 (proxy) and lists its upstreams in RESOLVED_UPSTREAMS;
# NetworkManager's dnsmasq listens on 127.0.1.1. Other loopback addresses may be
# a full resolver (unbound on 127.0.0.1), so they are measured as they are.
RESOLVED_STUBS = frozenset({"127.0.0.53", "127.0.0.54"})
DNSMASQ_STUBS = frozenset({"127.0.1.1"})
RESOLVED_UPSTREAMS = Path("/run/systemd/resolve/resolv.conf")
STUB_SUFFIX = "-stub"


@dataclass(frozen=True, slots=True)
class SystemPath:
    """What the `system` resolver expands to, and why."""

    servers: tuple[str, ...]
    stub: str = ""                 # "", "systemd-resolved" or "dnsmasq"
    stub_measured: bool = False    # no upstreams known: the stub itself is measured
    note: str = ""                 # for the operator, when a stub was found


def parse_nameservers(text: str) -> list[str]:
    """Nameserver addresses of a resolv.conf, in order, skipping malformed lines."""
    servers: list[str] = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            address = parts[1].split("%", 1)[0]  # drop an IPv6 zone index
            try:
                servers.append(str(ipaddress.ip_address(address)))
            except ValueError:
                continue
    return servers


def system_path(resolv_conf: str, upstreams: str | None, *,
                upstreams_source: str = str(RESOLVED_UPSTREAMS)) -> SystemPath:
    """Pure: the servers behind `system`, from resolv.conf's text and, when it names
    systemd-resolved's stub, the text of its upstream list (None: unreadable)."""
    servers = parse_nameservers(resolv_conf)
    if any(s in RESOLVED_STUBS for s in servers):
        forwarded = [s for s in parse_nameservers(upstreams or "")
                     if s not in RESOLVED_STUBS and s not in DNSMASQ_STUBS]
        if forwarded:
            return SystemPath(tuple(forwarded), "systemd-resolved", note=(
                f"resolv.conf names the systemd-resolved stub; measuring the upstreams it "
                f"forwards to ({', '.join(forwarded)}, from {upstreams_source})"))
        return SystemPath(tuple(servers), "systemd-resolved", stub_measured=True, note=(
            f"resolv.conf names the systemd-resolved stub and {upstreams_source} lists no "
            f"upstream: measuring the stub itself (its cache, not the network's resolver), "
            f"recorded as '…{STUB_SUFFIX}'; identity checks record who answers behind it"))
    if any(s in DNSMASQ_STUBS for s in servers):
        return SystemPath(tuple(servers), "dnsmasq", stub_measured=True, note=(
            f"resolv.conf names a local stub ({', '.join(servers)}, dnsmasq's address) whose "
            f"upstreams are unknown: measuring the stub itself, recorded as "
            f"'…{STUB_SUFFIX}'; identity checks record who answers behind it"))
    return SystemPath(tuple(servers))


def read_system_path(resolv_conf: Path, upstreams: Path = RESOLVED_UPSTREAMS) -> SystemPath:
    try:
        text = resolv_conf.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read {resolv_conf}: {exc.strerror}") from exc
    upstream_text: str | None = None
    if any(s in RESOLVED_STUBS for s in parse_nameservers(text)):
        try:
            upstream_text = upstreams.read_text(encoding="utf-8", errors="replace")
        except OSError:
            upstream_text = None
    return system_path(text, upstream_text, upstreams_source=str(upstreams))


@dataclass(frozen=True, slots=True)
class ResolverSpec:
    """A resolver as configured. `address` may be "system" (resolv.conf)."""

    name: str
    transport: Transport
    address: str = ""
    port: int = 0
    tls_name: str = ""
    url: str = ""
    ca_file: str = ""

    def refs(self, resolv_conf: Path = Path("/etc/resolv.conf"),
             upstreams: Path = RESOLVED_UPSTREAMS) -> list[ResolverRef]:
        """Concrete endpoints; "system" expands to every nameserver in resolv.conf,
        or to the upstreams of systemd-resolved's stub (see `system_path`)."""
        port = self.port or DEFAULT_PORTS[self.transport]
        if self.transport is Transport.DOH:
            host = urlsplit(self.url).hostname or ""
            return [ResolverRef(self.name, host, port, self.transport, url=self.url)]
        if self.address != SYSTEM:
            return [ResolverRef(self.name, self.address, port, self.transport, self.tls_name)]
        path = read_system_path(resolv_conf, upstreams)
        if not path.servers:
            raise ConfigError(f"no nameserver in {resolv_conf}", field=f"resolvers.{self.name}")
        # the name says what was measured: a stub's answers are not the network's
        name = self.name + STUB_SUFFIX if path.stub_measured else self.name
        if path.note:
            (log.warning if path.stub_measured else log.info)(
                "event=system_resolver resolver=%s stub=%s servers=%s: %s", name, path.stub,
                ",".join(path.servers), path.note)
        return [
            ResolverRef(name if i == 0 else f"{name}-{i + 1}", server, port,
                        self.transport, self.tls_name)
            for i, server in enumerate(path.servers)
        ]


def system_nameservers(resolv_conf: Path) -> list[str]:
    """Nameserver addresses from a resolv.conf file (see `parse_nameservers`)."""
    try:
        text = resolv_conf.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read {resolv_conf}: {exc.strerror}") from exc
    return parse_nameservers(text)


def default_resolvers() -> list[ResolverSpec]:
    """The zero-config set (blockwatch.contract.resolvers.DEFAULT_RESOLVERS)."""
    return [ResolverSpec(r.name, r.transport, r.address, url=r.url) for r in DEFAULT_RESOLVERS]
