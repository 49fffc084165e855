"""Which (name, address) pairs a round follows up, and why: pure, no I/O.

Every resolver's answer counts, so a stop-page address from the ISP and the
real address from a public resolver are both followed; the same address named
by several resolvers is followed once, carrying all their measurement ids.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import dns.rdatatype

from blockwatch.probe.observation import Measurement, Purpose
from blockwatch.probe.webconfig import WebConfig
from blockwatch.probe.webobservation import FollowUp

_A = int(dns.rdatatype.A)
_AAAA = int(dns.rdatatype.AAAA)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An answer address the round did not follow, with the reason (said, not hidden)."""

    name: str
    address: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    followups: tuple[FollowUp, ...]
    skipped: tuple[Skipped, ...]


class Planner:
    """Plans a round's follow-ups incrementally, as measurements arrive: it keeps only
    (name, address) -> measurement ids, never the measurements, so memory grows with
    the distinct pairs (a few dozen bytes each), not with the answers' records."""

    def __init__(self, config: WebConfig,
                 purposes: Collection[Purpose] = (Purpose.TARGET, Purpose.CANDIDATE)) -> None:
        self.config = config
        self._purposes = frozenset(purposes)
        self._ids: dict[tuple[str, str], list[bytes]] = {}
        self._per_name: dict[str, int] = {}
        self._skipped: dict[tuple[str, str], Skipped] = {}

    def __len__(self) -> int:
        """Follow-ups planned so far."""
        return len(self._ids)

    def add(self, m: Measurement) -> None:
        config = self.config
        if not config.enabled or m.purpose not in self._purposes:
            return
        for address in _answer_addresses(m, config):
            key = (m.domain, address)
            found = self._ids.get(key)
            if found is not None:
                if m.measurement_id not in found:
                    found.append(m.measurement_id)
                continue
            if key in self._skipped:
                continue
            reason = _skip_reason(address, config)
            if not reason and self._per_name.get(m.domain, 0) >= config.max_followups_per_name:
                reason = f"over web.max_followups_per_name ({config.max_followups_per_name})"
            if reason:
                self._skipped[key] = Skipped(m.domain, address, reason)
                continue
            self._per_name[m.domain] = self._per_name.get(m.domain, 0) + 1
            self._ids[key] = [m.measurement_id]

    def plan(self) -> Plan:
        """The follow-ups so far, in first-seen order; the planner is emptied."""
        followups = tuple(FollowUp(name, address, tuple(found))
                          for (name, address), found in self._ids.items())
        plan = Plan(followups, tuple(self._skipped.values()))
        self._ids, self._per_name, self._skipped = {}, {}, {}
        return plan


def plan_followups(
    measurements: Iterable[Measurement],
    config: WebConfig,
    purposes: Collection[Purpose] = (Purpose.TARGET, Purpose.CANDIDATE),
) -> Plan:
    """The follow-ups for one round's DNS measurements, in first-seen order.

    Per measurement, the response a stub resolver would have used (the first)
    gives its first `ipv4_addresses` A and first `ipv6_addresses` AAAA records.
    """
    planner = Planner(config, purposes)
    for m in measurements:
        planner.add(m)
    return planner.plan()


def _answer_addresses(m: Measurement, config: WebConfig) -> list[str]:
    first = m.first
    if first is None or first.parse_error:
        return []
    found: list[str] = []
    v4 = v6 = 0
    for record in first.answers:
        if record.rtype == _A and v4 < config.ipv4_addresses:
            v4 += 1
        elif record.rtype == _AAAA and v6 < config.ipv6_addresses:
            v6 += 1
        else:
            continue
        found.append(_canonical(record.data))
    return found


def _canonical(data: str) -> str:
    try:
        return str(ipaddress.ip_address(data.strip()))
    except ValueError:
        return data  # kept as is; _skip_reason names it


def _skip_reason(address: str, config: WebConfig) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if ip.is_unspecified or ip.is_multicast:
        return "unspecified or multicast address"
    if not ip.is_global and not config.allow_non_global:
        return "non-global address (web.allow_non_global is off)"
    return ""
