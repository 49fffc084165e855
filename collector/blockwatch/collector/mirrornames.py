"""Names for mirror discovery (issue 14): registrable domains, generated name
variants, shared CDN networks. Pure apart from reading packaged data once.

Registrable domains come from the Public Suffix List bundled with tldextract:
its snapshot only, never a fetch (the collector may have no Internet, and a
list that changes under a running collector would move candidates).
"""

from __future__ import annotations

import csv
import functools
import ipaddress
from dataclasses import dataclass
from importlib import resources

import tldextract

# Where blocked sites hop to, in published studies and takedown lists: the
# ccTLDs and gTLDs piracy sites use most. Bounded: each listed domain yields
# at most len(VARIANT_TLDS) + VARIANT_NUMBERS names to measure.
VARIANT_TLDS = ("to", "cc", "cr", "se", "so", "li", "ws", "is", "io", "org", "net", "com",
                "pro", "me", "pw", "nz", "ee", "la", "link")
VARIANT_NUMBERS = 3   # kat.to -> kat1.to, kat2.to, kat3.to (and kat2.to -> kat.to, ...)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _extractor() -> tldextract.TLDExtract:
    # suffix_list_urls=() and no cache dir: the bundled snapshot, no network, no files
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def split_name(name: str) -> tuple[str, str]:
    """(label, public suffix) of a name's registrable domain: kat.co.uk -> (kat, co.uk).
    A suffix the list does not know (a lab's .test) counts as one label."""
    parts = _extractor()(name.lower().rstrip("."))
    if parts.domain and parts.suffix:
        return parts.domain, parts.suffix
    labels = name.lower().rstrip(".").split(".")
    return (labels[-2], labels[-1]) if len(labels) >= 2 else (labels[0], "")


def registrable(name: str) -> str:
    label, suffix = split_name(name)
    return f"{label}.{suffix}" if suffix else label


def host_of(url: str) -> str:
    """The host of an absolute URL ('' for a relative Location)."""
    rest = url.split("://", 1)
    if len(rest) != 2:
        return ""
    host = rest[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    host = host.rsplit("@", 1)[-1]
    if host.startswith("["):
        return ""   # an IPv6 literal is no domain
    return host.split(":", 1)[0].lower().rstrip(".")


def variants(domain: str) -> tuple[str, ...]:
    """Generated candidates for a listed domain: its label under other TLDs,
    and numbered forms under its own TLD. Never the domain itself."""
    label, suffix = split_name(domain)
    if not suffix:
        return ()
    base = label.rstrip("0123456789") or label
    names = [f"{base}.{tld}" for tld in VARIANT_TLDS]
    names += [f"{base}{n}.{suffix}" for n in range(1, VARIANT_NUMBERS + 1)]
    names.append(f"{base}.{suffix}")
    own = f"{label}.{suffix}"
    return tuple(dict.fromkeys(n for n in names if n not in (own, domain)))


@dataclass(frozen=True, slots=True)
class CdnNetworks:
    networks: tuple[tuple[IpNetwork, str], ...]

    def operator(self, address: str) -> str:
        """The CDN an address belongs to ('' if none)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return ""
        for network, operator in self.networks:
            if ip.version == network.version and ip in network:
                return operator
        return ""


def parse_cdn_networks(text: str) -> CdnNetworks:
    rows = csv.DictReader(text.splitlines())
    return CdnNetworks(tuple((ipaddress.ip_network(r["network"].strip()), r["operator"].strip())
                             for r in rows))


@functools.cache
def cdn_networks() -> CdnNetworks:
    """The packaged list (data/cdn_networks.csv, sources in data/SOURCE.md)."""
    text = resources.files("blockwatch.collector").joinpath("data/cdn_networks.csv")
    return parse_cdn_networks(text.read_text(encoding="utf-8"))


def shareable_address(address: str, cdn: CdnNetworks) -> bool:
    """Whether an address can show co-hosting: public, and not a shared CDN edge."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global and not cdn.operator(address)
