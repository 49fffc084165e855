"""The rules of a resolver entry, and the built-in resolvers.

A probe measures through the resolvers of its own config and those its
collector assigns; what the collector assigns, a probe must accept. So both
check entries with the one `check_resolver` here, and the collector knows the
probe's built-in resolver names (order intermediaries are matched against
them) from `DEFAULT_RESOLVERS` rather than from the probe's package.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from blockwatch.contract.vocabulary import Transport

# probe and resolver names: what logs, reports and Prometheus labels carry
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
SYSTEM = "system"   # the address that means "the nameservers of resolv.conf"
_DOT, _DOH = Transport.DOT.label, Transport.DOH.label


def check_resolver(name: str, *, transport: str, address: str, port: int, tls_name: str,
                   url: str) -> None:
    """The rules a resolver entry obeys, in the probe's config and in the collector's
    assignment config; raises ValueError starting with the field's name."""
    if not NAME.match(name):
        raise ValueError(f"name: {name!r} must be 1-63 letters, digits, '.', '_' or '-'")
    if not 0 <= port <= 65535:
        raise ValueError(f"port: {port} is not in 0..65535")
    if transport == _DOH:
        _check_doh_url(url)
        if address:
            raise ValueError("address: not used with transport 'doh' (put the host in url)")
    else:
        if url:
            raise ValueError(f"url: only used with transport 'doh', not {transport!r}")
        if address != SYSTEM:
            _check_ip(address, "address")
    if tls_name and transport != _DOT:
        raise ValueError("tls_name: only used with transport 'dot'")


def _check_ip(value: str, field: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(
            f"{field}: {value!r} is not an IP address (or \"system\" for resolv.conf)"
        ) from None


def _check_doh_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"url: {url!r} must be an https:// URL with a host")
    if not parts.path or parts.path == "/":
        raise ValueError(f"url: {url!r} needs a path such as /dns-query")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"url: {url!r} has an invalid port") from None


@dataclass(frozen=True, slots=True)
class DefaultResolver:
    """A built-in resolver: measured when a probe's config lists none."""

    name: str
    transport: Transport
    address: str = ""
    url: str = ""


# The zero-config set: the system resolver and the big public ones, UDP and
# DoH. DoH URLs use the resolvers' IP literals (their certificates cover them)
# so that measuring DoH does not depend on the system resolver, which may be
# the one that blocks.
DEFAULT_RESOLVERS: tuple[DefaultResolver, ...] = (
    DefaultResolver(SYSTEM, Transport.UDP, SYSTEM),
    DefaultResolver("cloudflare", Transport.UDP, "1.1.1.1"),
    DefaultResolver("google", Transport.UDP, "8.8.8.8"),
    DefaultResolver("quad9", Transport.UDP, "9.9.9.9"),
    DefaultResolver("cloudflare-doh", Transport.DOH, url="https://1.1.1.1/dns-query"),
    DefaultResolver("google-doh", Transport.DOH, url="https://8.8.8.8/dns-query"),
    DefaultResolver("quad9-doh", Transport.DOH, url="https://9.9.9.9/dns-query"),
)
