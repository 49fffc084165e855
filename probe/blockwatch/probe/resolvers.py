"""Resolver specifications: what the probe measures through, and the built-in default set."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from blockwatch.probe.errors import ConfigError
from blockwatch.probe.observation import ResolverRef, Transport

DEFAULT_PORTS = {Transport.UDP: 53, Transport.TCP: 53, Transport.DOT: 853, Transport.DOH: 443}
SYSTEM = "system"


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

    def refs(self, resolv_conf: Path = Path("/etc/resolv.conf")) -> list[ResolverRef]:
        """Concrete endpoints; "system" expands to every nameserver in resolv.conf."""
        port = self.port or DEFAULT_PORTS[self.transport]
        if self.transport is Transport.DOH:
            host = urlsplit(self.url).hostname or ""
            return [ResolverRef(self.name, host, port, self.transport, url=self.url)]
        if self.address != SYSTEM:
            return [ResolverRef(self.name, self.address, port, self.transport, self.tls_name)]
        servers = system_nameservers(resolv_conf)
        if not servers:
            raise ConfigError(f"no nameserver in {resolv_conf}", field=f"resolvers.{self.name}")
        return [
            ResolverRef(self.name if i == 0 else f"{self.name}-{i + 1}", server, port,
                        self.transport, self.tls_name)
            for i, server in enumerate(servers)
        ]


def system_nameservers(resolv_conf: Path) -> list[str]:
    """Nameserver addresses from a resolv.conf, in order, skipping malformed lines."""
    try:
        lines = resolv_conf.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {resolv_conf}: {exc.strerror}") from exc
    servers: list[str] = []
    for line in lines:
        parts = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            address = parts[1].split("%", 1)[0]  # drop an IPv6 zone index
            try:
                servers.append(str(ipaddress.ip_address(address)))
            except ValueError:
                continue
    return servers


def default_resolvers() -> list[ResolverSpec]:
    """The zero-config set: the system resolver and the big public ones, UDP and DoH.

    DoH URLs use the resolvers' IP literals (their certificates cover them) so
    that measuring DoH does not depend on the system resolver, which may be the
    one that blocks.
    """
    return [
        ResolverSpec(SYSTEM, Transport.UDP, SYSTEM),
        ResolverSpec("cloudflare", Transport.UDP, "1.1.1.1"),
        ResolverSpec("google", Transport.UDP, "8.8.8.8"),
        ResolverSpec("quad9", Transport.UDP, "9.9.9.9"),
        ResolverSpec("cloudflare-doh", Transport.DOH, url="https://1.1.1.1/dns-query"),
        ResolverSpec("google-doh", Transport.DOH, url="https://8.8.8.8/dns-query"),
        ResolverSpec("quad9-doh", Transport.DOH, url="https://9.9.9.9/dns-query"),
    ]
