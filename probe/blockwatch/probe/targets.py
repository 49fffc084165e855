"""Target names and the plan of a round: which name, which type, which resolver.

Pure logic: no sockets, no clocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import dns.rdataclass
import dns.rdatatype

from blockwatch.probe.dnsmessage import normalize_domain
from blockwatch.probe.errors import ConfigError
from blockwatch.probe.observation import Purpose

CH = int(dns.rdataclass.CH)
IN = int(dns.rdataclass.IN)
TXT = int(dns.rdatatype.TXT)
A = int(dns.rdatatype.A)

# Who answers? Each name is answered specially by one operator or server
# software; an unexpected answer means someone else answers that address.
IDENTITY_QUERIES: tuple[tuple[str, int, int], ...] = (
    ("id.server", TXT, CH),                # RFC 4892, most server software
    ("hostname.bind", TXT, CH),            # BIND, unbound, knot
    ("whoami.cloudflare", TXT, CH),        # Cloudflare: the client address it saw
    ("o-o.myaddr.l.google.com", TXT, IN),  # Google: the resolver's egress address
    ("whoami.akamai.net", A, IN),          # Akamai: the resolver's egress address
)


# what a host name may hold (RFC 952/1123 letters, digits, hyphens), plus the
# underscore that real zones use; anything else is a typo, not a site
_FORBIDDEN = re.compile(r"[^A-Za-z0-9._-]")


def target_domain(text: str) -> str:
    """A name to measure, normalised; raises ValueError saying what is wrong."""
    name = text.strip()
    ascii_name = name
    if not name.isascii():
        try:
            ascii_name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{text!r} is not a domain name: {exc}") from None
    bad = sorted(set(_FORBIDDEN.findall(ascii_name)))
    if bad:
        shown = " and ".join(repr(ch) for ch in bad)
        raise ValueError(f"{text!r} is not a domain name: {shown} "
                         f"{'is' if len(bad) == 1 else 'are'} not allowed "
                         "(letters, digits, '-', '_' and '.')")
    return normalize_domain(name)


def name_from_argument(text: str) -> tuple[str, str]:
    """A command-line name, or a URL whose host is the name: (domain, note for
    the user, "" when the text was a plain name)."""
    if "://" not in text:
        return target_domain(text), ""
    try:
        host = urlsplit(text.strip()).hostname or ""
    except ValueError:
        host = ""
    if not host:
        raise ValueError(f"{text!r} is a URL without a host name")
    domain = target_domain(host)
    return domain, f"{text} is a URL: measuring its host {domain}"


@dataclass(frozen=True, slots=True)
class Target:
    domain: str
    purpose: Purpose = Purpose.TARGET
    site: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    domain: str
    qtype: int
    qclass: int
    purpose: Purpose


def make_targets(domains: Iterable[str], controls: Iterable[str] = ()) -> list[Target]:
    """Validated, normalised, de-duplicated targets (first mention wins)."""
    seen: dict[str, Target] = {}
    for purpose, names in ((Purpose.TARGET, domains), (Purpose.CONTROL, controls)):
        for name in names:
            try:
                domain = target_domain(name)
            except ValueError as exc:
                raise ConfigError(str(exc), field="targets") from None
            seen.setdefault(domain, Target(domain, purpose))
    return list(seen.values())


def read_target_file(path: Path) -> list[Target]:
    """One name per line; `name,control` marks a control; `#` starts a comment.
    Read line by line: target lists run to hundreds of thousands of names."""
    targets: list[Target] = []
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                text = line.split("#", 1)[0].strip()
                if text:
                    targets.append(_target_line(text, number, path))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from exc
    return targets


# A target file's second column: the contract's own words (no kind: a target).
_KINDS = {"": Purpose.TARGET, Purpose.TARGET.label: Purpose.TARGET,
          Purpose.CONTROL.label: Purpose.CONTROL}


def _target_line(text: str, number: int, path: Path) -> Target:
    name, _, kind = (part.strip() for part in text.partition(","))
    purpose = _KINDS.get(kind)
    if purpose is None:
        raise ConfigError(f"line {number}: unknown kind {kind!r} "
                          f"({Purpose.TARGET.label} or {Purpose.CONTROL.label})", source=str(path))
    try:
        domain = target_domain(name)
    except ValueError as exc:
        raise ConfigError(f"line {number}: {exc}", source=str(path)) from None
    return Target(domain, purpose)


def plan_queries(
    targets: list[Target], qtypes: list[int], *, identity: bool
) -> Iterator[Query]:
    """The queries one resolver gets in a round: identity checks first, so a round
    cut short still says who was answering."""
    if identity:
        for domain, qtype, qclass in IDENTITY_QUERIES:
            yield Query(domain, qtype, qclass, Purpose.IDENTITY)
    for target in targets:
        for qtype in qtypes:
            yield Query(target.domain, qtype, IN, target.purpose)


def queries_per_resolver(targets: list[Target], qtypes: list[int], *, identity: bool) -> int:
    return len(targets) * len(qtypes) + (len(IDENTITY_QUERIES) if identity else 0)
