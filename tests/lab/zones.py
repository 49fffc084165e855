"""Ground truth of the lab's fake root zone.

NSD serves these records directly in "." (no delegations), so a resolver that
stubs "." to NSD gets authoritative answers for every test name with no
Internet. Addresses are public-looking on purpose: documentation ranges
(192.0.2/24, 2001:db8::/32) count as bogons for the classifier, which would
make normal answers look like blocks. The lab never routes to them; they are
answer data only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.name

STOP_PAGE_AGCOM = "83.224.65.74"
"""AGCOM stop page: what Italian ISPs answer for blocked names (data only)."""

CONTROL_NAME = "example-control.org"
WHOAMI_NAME = "whoami.blockwatch-lab.net"
PIRACY_NAMES = (
    "kickasstorrents.to",
    "kickasstorrents.cr",  # mirror of kickasstorrents.to
    "limetorrents.pro",
    "thepiratebay.org",
)


def fqdn(name: str) -> str:
    """Lower-case absolute form ('x.org' -> 'x.org.'), '.' for the root."""
    return dns.name.from_text(name).to_text().lower()


@dataclass(frozen=True)
class Rr:
    """One resource record; ``name`` and names inside ``data`` are absolute."""

    name: str
    rtype: str
    data: str
    ttl: int = 300

    def to_text(self) -> str:
        return f"{self.name}\t{self.ttl}\tIN\t{self.rtype}\t{self.data}"


@dataclass(frozen=True)
class LabZone:
    """The fake root zone: SOA/NS apex plus test names, and lookups on it."""

    ns_address: str
    records: tuple[Rr, ...]
    serial: int = 1
    ns_name: str = "ns.blockwatch-lab.net."
    soa_minimum: int = 60
    _index: dict[tuple[str, str], tuple[str, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], list[str]] = {}
        for rr in self.all_records():
            index.setdefault((fqdn(rr.name), rr.rtype.upper()), []).append(rr.data)
        object.__setattr__(self, "_index", {k: tuple(v) for k, v in index.items()})

    def apex_records(self) -> tuple[Rr, ...]:
        soa = (
            f"{self.ns_name} hostmaster.blockwatch-lab.net. {self.serial} "
            f"3600 600 86400 {self.soa_minimum}"
        )
        return (
            Rr(".", "SOA", soa, 86400),
            Rr(".", "NS", self.ns_name, 86400),
            Rr(self.ns_name, "A", self.ns_address, 86400),
        )

    def all_records(self) -> tuple[Rr, ...]:
        return self.apex_records() + self.records

    def to_text(self) -> str:
        """Master-file text for NSD."""
        lines = ["$ORIGIN .", "$TTL 300"]
        lines += [rr.to_text() for rr in self.all_records()]
        return "\n".join(lines) + "\n"

    def names(self) -> frozenset[str]:
        return frozenset(fqdn(rr.name) for rr in self.all_records())

    def rdata(self, name: str, rtype: str) -> tuple[str, ...]:
        """Records stored at exactly (name, type), as written in the zone."""
        return self._index.get((fqdn(name), rtype.upper()), ())

    def cname_chain(self, name: str) -> tuple[str, ...]:
        """Names visited from ``name`` following CNAMEs (starts with ``name``)."""
        chain = [fqdn(name)]
        while (target := self.rdata(chain[-1], "CNAME")) and len(chain) < 16:
            chain.append(fqdn(target[0]))
        return tuple(chain)

    def expected(self, name: str, rtype: str = "A") -> frozenset[str]:
        """What a faithful resolver answers for (name, type) after CNAMEs.

        TXT data is returned as zone text (with quotes), addresses as text.
        """
        return frozenset(self.rdata(self.cname_chain(name)[-1], rtype))

    def exists(self, name: str) -> bool:
        """False means a faithful resolver answers NXDOMAIN."""
        target = fqdn(name)
        return any(n == target or n.endswith("." + target) for n in self.names())


def standard_records(whoami_text: str = "blockwatch-lab-root") -> tuple[Rr, ...]:
    """The records every lab world serves (piracy names, control, chains, TXT)."""
    return (
        # Piracy-style names (as in AGCOM / court orders) and a mirror.
        Rr("kickasstorrents.to.", "A", "104.21.32.10"),
        Rr("kickasstorrents.to.", "AAAA", "2606:4700:3030::6815:200a"),
        Rr("www.kickasstorrents.to.", "CNAME", "kickasstorrents.to."),
        Rr("kickasstorrents.cr.", "A", "172.67.161.20"),
        Rr("kickasstorrents.cr.", "AAAA", "2606:4700:3031::ac43:a114"),
        Rr("limetorrents.pro.", "A", "172.67.170.30"),
        Rr("thepiratebay.org.", "A", "162.159.136.6"),
        Rr("thepiratebay.org.", "AAAA", "2606:4700::a29f:8806"),
        Rr("www.thepiratebay.org.", "CNAME", "thepiratebay.org."),
        # Control: never blocked anywhere; tells a broken resolver from a block.
        Rr("example-control.org.", "A", "93.184.215.14"),
        Rr("example-control.org.", "AAAA", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
        Rr("www.example-control.org.", "CNAME", "example-control.org."),
        # Two-hop chain to check CNAME-chain recording.
        Rr("cdn.example-control.org.", "CNAME", "www.example-control.org."),
        # whoami-like name (static here; real ones echo the resolver's egress).
        Rr(WHOAMI_NAME + ".", "TXT", f'"{whoami_text}"'),
    )


def lab_root_zone(
    ns_address: str, extra: Iterable[Rr] = (), whoami_text: str = "blockwatch-lab-root"
) -> LabZone:
    """The standard lab root zone with NSD reachable at ``ns_address``."""
    return LabZone(ns_address=ns_address, records=standard_records(whoami_text) + tuple(extra))
