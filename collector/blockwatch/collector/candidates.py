"""Mirror candidates from stored observations (issue 14): pure, no I/O.

Four sources, each candidate kept with its evidence and provenance (the probe
and observation that showed it, and when first):

- redirect: a listed domain's web server answers a Location (or a followed
  hop) on another registrable domain;
- certificate: the certificate a listed domain's server presents names
  another domain (a SAN);
- cohost: another measured name resolves to the same public, non-CDN address;
- variant: a generated name (mirrornames.variants) that is the same site:
  same certificate, same page (title or body hash, HTTP 200) as the listed
  site, or a redirect to it. Generated names are measured first and only
  proposed on such evidence.

Only trustworthy observations count: from a control vantage, or over TLS with
a certificate valid for the name. A stop page (an ISP's redirect to its
notice, its page, its certificate) is neither, so it proposes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from blockwatch.collector.mirrornames import (
    CdnNetworks,
    host_of,
    registrable,
    shareable_address,
    variants,
)
from blockwatch.collector.orders import OrderSet

# A certificate naming more domains than this is a shared one (CDN, hoster):
# its other names are strangers, not mirrors.
MAX_SANS = 20
SOURCES = ("redirect", "certificate", "cohost", "variant")


@dataclass(frozen=True, slots=True)
class Listed:
    order_id: str
    site: str
    domain: str


@dataclass(frozen=True, slots=True)
class WebFact:
    """Web observations of one name that agree on everything below."""

    name: str
    control: bool
    status: int
    location: str
    redirects: tuple[str, ...]      # followed hops' Locations
    sans: tuple[str, ...]           # "DNS:name", as stored
    cert_sha256: str
    name_matches: bool
    title: str
    body_sha256: str
    first_seen: dt.datetime
    probe_name: str
    observation_id: str

    @property
    def trusted(self) -> bool:
        return self.control or (self.name_matches and bool(self.cert_sha256))


@dataclass(frozen=True, slots=True)
class AddressFact:
    """A name resolved (verdict ok) to an address."""

    name: str
    address: str
    first_seen: dt.datetime
    probe_name: str
    measurement_id: str


@dataclass(frozen=True, slots=True)
class Candidate:
    order_id: str
    site: str
    candidate: str
    source: str            # redirect | certificate | cohost | variant
    listed_domain: str
    evidence: str
    probe_name: str
    observation_id: str
    first_seen: dt.datetime


def listed_domains(orders: OrderSet) -> list[Listed]:
    return [Listed(o.order_id, s.name, d.domain)
            for o in orders.orders for s in o.sites for d in s.domains]


def to_measure(orders: OrderSet, derived: Iterable[Candidate],
               rejected: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """(domain, site) pairs probes should measure as candidates, one per domain,
    none listed in or rejected for the order: first the derived candidates
    (evidence already points at them), then the generated variants, the most
    likely first: every listed domain's first variant, then every second one."""
    listed = listed_domains(orders)
    names = {x.domain for x in listed}
    out: dict[str, str] = {}
    for c in sorted(derived, key=lambda c: c.candidate):
        if c.candidate not in names and (c.order_id, c.candidate) not in rejected:
            out.setdefault(c.candidate, c.site)
    generated = [(rank, name, x) for x in listed for rank, name in enumerate(variants(x.domain))]
    for _, name, x in sorted(generated, key=lambda g: (g[0], g[1])):
        if name not in names and (x.order_id, name) not in rejected:
            out.setdefault(name, x.site)
    return list(out.items())


def _other_domain(name: str, listed: str) -> bool:
    return bool(name) and registrable(name) != registrable(listed)


def _san_names(sans: Sequence[str]) -> list[str]:
    names = [s[4:].lower().rstrip(".") for s in sans if s.startswith("DNS:")]
    return [n[2:] if n.startswith("*.") else n for n in names]


def derive(listed: Sequence[Listed], web: Sequence[WebFact], addresses: Sequence[AddressFact],
           rejected: set[tuple[str, str]], cdn: CdnNetworks) -> list[Candidate]:
    """Every candidate with its evidence, earliest first seen per (order,
    candidate, source, listed domain); rejected ones left out."""
    in_order: dict[str, set[str]] = {}
    for x in listed:
        in_order.setdefault(x.order_id, set()).add(x.domain)
    by_name: dict[str, list[WebFact]] = {}
    for f in web:
        if f.trusted:
            by_name.setdefault(f.name, []).append(f)
    found: dict[tuple[str, str, str, str], Candidate] = {}
    for c in (*_served(listed, by_name), *_cohost(listed, addresses, cdn),
              *_variants(listed, by_name)):
        if c.candidate in in_order[c.order_id] or (c.order_id, c.candidate) in rejected:
            continue
        key = (c.order_id, c.candidate, c.source, c.listed_domain)
        old = found.get(key)
        if old is None or c.first_seen < old.first_seen:
            found[key] = c
    return sorted(found.values(), key=lambda c: (c.order_id, c.site, c.candidate, c.source,
                                                 c.listed_domain))


def _found(x: Listed, name: str, source: str, evidence: str, f: WebFact) -> Candidate:
    return Candidate(x.order_id, x.site, name, source, x.domain, evidence, f.probe_name,
                     f.observation_id, f.first_seen)


def _served(listed: Sequence[Listed], by_name: dict[str, list[WebFact]]
            ) -> Iterator[Candidate]:
    """Redirects and certificate names of the listed domains' own servers."""
    for x in listed:
        for f in by_name.get(x.domain, ()):
            for url in (f.location, *f.redirects):
                host = host_of(url)
                if _other_domain(host, x.domain):
                    yield _found(x, host, "redirect",
                                 f"{x.domain} answered {f.status} Location {url}", f)
            names = _san_names(f.sans)
            if f.name_matches and len(names) <= MAX_SANS:
                for name in names:
                    if _other_domain(name, x.domain):
                        yield _found(x, name, "certificate",
                                     f"certificate of {x.domain} (sha256 "
                                     f"{f.cert_sha256[:16]}) names {name}", f)


def _cohost(listed: Sequence[Listed], addresses: Sequence[AddressFact], cdn: CdnNetworks
            ) -> Iterator[Candidate]:
    at: dict[str, list[AddressFact]] = {}
    of: dict[str, list[AddressFact]] = {}
    for a in addresses:
        of.setdefault(a.name, []).append(a)
        if shareable_address(a.address, cdn):
            at.setdefault(a.address, []).append(a)
    for x in listed:
        for mine in of.get(x.domain, ()):
            for other in at.get(mine.address, ()):
                if _other_domain(other.name, x.domain):
                    yield Candidate(x.order_id, x.site, other.name, "cohost", x.domain,
                                    f"{other.name} and {x.domain} both resolve to "
                                    f"{mine.address}", other.probe_name, other.measurement_id,
                                    max(mine.first_seen, other.first_seen))


@dataclass(frozen=True, slots=True)
class _SiteLook:
    """What a listed site looks like from the control vantage."""

    certs: frozenset[str]
    titles: frozenset[str]
    bodies: frozenset[str]
    domains: frozenset[str]     # its listed domains and their registrable domains

    def same_site(self, f: WebFact) -> str:
        """Why `f` shows this site ('' if it does not)."""
        if f.name_matches and f.cert_sha256 in self.certs:
            return f"presents the site's certificate (sha256 {f.cert_sha256[:16]})"
        if f.status == 200 and f.body_sha256 in self.bodies:
            return f"serves the site's page (body sha256 {f.body_sha256[:16]})"
        if f.status == 200 and f.title in self.titles:
            return f"serves the site's page (title {f.title!r})"
        for url in (f.location, *f.redirects):
            host = host_of(url)
            if host and (host in self.domains or registrable(host) in self.domains):
                return f"redirects to the site ({f.status} Location {url})"
        return ""


def _variants(listed: Sequence[Listed], by_name: dict[str, list[WebFact]]
              ) -> Iterator[Candidate]:
    sites: dict[tuple[str, str], list[Listed]] = {}
    for x in listed:
        sites.setdefault((x.order_id, x.site), []).append(x)
    for members in sites.values():
        reference = [f for m in members for f in by_name.get(m.domain, ()) if f.control]
        look = _SiteLook(
            frozenset(f.cert_sha256 for f in reference if f.cert_sha256 and f.name_matches),
            frozenset(f.title for f in reference if f.title and f.status == 200),
            frozenset(f.body_sha256 for f in reference if f.body_sha256 and f.status == 200),
            frozenset(d for m in members for d in (m.domain, registrable(m.domain))))
        for m in members:
            for name in variants(m.domain):
                for f in by_name.get(name, ()):
                    why = look.same_site(f) if f.control else ""   # control vantage only
                    if why:
                        yield _found(m, name, "variant",
                                     f"{name} (generated from {m.domain}) {why}", f)
