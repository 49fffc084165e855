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


def plan_followups(
    measurements: Iterable[Measurement],
    config: WebConfig,
    purposes: Collection[Purpose] = (Purpose.TARGET, Purpose.CANDIDATE),
) -> Plan:
    """The follow-ups for one round's DNS measurements, in first-seen order.

    Per measurement, the response a stub resolver would have used (the first)
    gives its first `ipv4_addresses` A and first `ipv6_addresses` AAAA records.
    """
    if not config.enabled:
        return Plan((), ())
    ids: dict[tuple[str, str], list[bytes]] = {}
    per_name: dict[str, int] = {}
    skipped: dict[tuple[str, str], Skipped] = {}
    for m in measurements:
        if m.purpose not in purposes:
            continue
        for address in _answer_addresses(m, config):
            key = (m.domain, address)
            if key in ids:
                if m.measurement_id not in ids[key]:
                    ids[key].append(m.measurement_id)
                continue
            if key in skipped:
                continue
            reason = _skip_reason(address, config)
            if not reason and per_name.get(m.domain, 0) >= config.max_followups_per_name:
                reason = f"over web.max_followups_per_name ({config.max_followups_per_name})"
            if reason:
                skipped[key] = Skipped(m.domain, address, reason)
                continue
            per_name[m.domain] = per_name.get(m.domain, 0) + 1
            ids[key] = [m.measurement_id]
    followups = tuple(FollowUp(name, address, tuple(found))
                      for (name, address), found in ids.items())
    return Plan(followups, tuple(skipped.values()))


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
