"""Addresses no public site answers with: a resolver handing them out for a
public name is blocking (or broken). Pure; the ranges are IANA special-purpose
registries (RFC 6890 and successors) minus the ones real sites use."""

from __future__ import annotations

import functools
import ipaddress

_RANGES = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::ffff:0:0/96", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10",
    "ff00::/8",
))


@functools.lru_cache(maxsize=4096)
def is_bogon(address: str) -> bool:
    """True for special-purpose addresses; False for public ones and non-addresses."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in _RANGES)


def prefix(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) an address is in: answers that share none
    with the control's are suspicious (CDNs vary within, rarely across)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))
