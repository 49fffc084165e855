"""The follow-up planner: one follow-up per (name, address) per round, with every
DNS measurement that led to it; bounded per family and per name; skips said."""

from __future__ import annotations

from blockwatch.probe.observation import (
    Measurement,
    Purpose,
    Record,
    ResolverRef,
    Response,
    Transport,
)
from blockwatch.probe.webconfig import WebConfig
from blockwatch.probe.webobservation import FollowUp
from blockwatch.probe.webplan import Plan, Skipped, plan_followups

A, AAAA, CNAME = 1, 28, 5
GLOBAL = WebConfig()
LAB = WebConfig(allow_non_global=True)


def measurement(mid: int, domain: str, *records: tuple[int, str], resolver: str = "isp",
                purpose: Purpose = Purpose.TARGET, parse_error: str = "",
                responses: int = 1) -> Measurement:
    answers = tuple(Record(domain, rtype, 300, data) for rtype, data in records)
    return Measurement(
        measurement_id=bytes([mid]) * 16, round_id="r", started_at_us=0, duration_us=0,
        domain=domain, qtype=A, qclass=1, purpose=purpose,
        resolver=ResolverRef(resolver, "192.0.2.53", 53, Transport.UDP),
        responses=[Response(0, 0, 0, answers=answers, parse_error=parse_error)
                   for _ in range(responses)])


def test_same_address_from_several_resolvers_is_followed_once_with_every_id() -> None:
    plan = plan_followups([
        measurement(1, "site.example", (A, "104.16.0.7"), resolver="isp"),
        measurement(2, "site.example", (A, "104.16.0.7"), resolver="google"),
        measurement(3, "site.example", (A, "83.224.65.74"), resolver="isp-2"),
    ], GLOBAL)
    assert plan == Plan((
        FollowUp("site.example", "104.16.0.7", (b"\x01" * 16, b"\x02" * 16)),
        FollowUp("site.example", "83.224.65.74", (b"\x03" * 16,)),
    ), ())


def test_first_address_of_each_family_per_answer() -> None:
    plan = plan_followups([measurement(
        1, "cdn.example", (CNAME, "edge.cdn.example."), (A, "151.101.1.1"),
        (A, "151.101.1.2"), (AAAA, "2606:4700::0:1"), (AAAA, "2606:4700::2"))], GLOBAL)
    assert [(f.address) for f in plan.followups] == ["151.101.1.1", "2606:4700::1"]


def test_addresses_per_family_are_configurable() -> None:
    config = WebConfig(ipv4_addresses=2, ipv6_addresses=0)
    plan = plan_followups([measurement(
        1, "cdn.example", (A, "151.101.1.1"), (A, "151.101.1.2"), (A, "151.101.1.3"),
        (AAAA, "2606:4700::1"))], config)
    assert [f.address for f in plan.followups] == ["151.101.1.1", "151.101.1.2"]


def test_non_global_answers_are_skipped_unless_allowed() -> None:
    ms = [measurement(1, "tim.example", (A, "127.0.0.1")),
          measurement(2, "lan.example", (A, "10.1.2.3")),
          measurement(3, "zero.example", (A, "0.0.0.0"))]
    assert plan_followups(ms, GLOBAL) == Plan((), (
        Skipped("tim.example", "127.0.0.1", "non-global address (web.allow_non_global is off)"),
        Skipped("lan.example", "10.1.2.3", "non-global address (web.allow_non_global is off)"),
        Skipped("zero.example", "0.0.0.0", "unspecified or multicast address")))
    lab = plan_followups(ms, LAB)
    assert [f.address for f in lab.followups] == ["127.0.0.1", "10.1.2.3"]
    assert lab.skipped == (Skipped("zero.example", "0.0.0.0", "unspecified or multicast address"),)


def test_only_target_measurements_and_usable_first_responses() -> None:
    plan = plan_followups([
        measurement(1, "control.example", (A, "151.101.1.9"), purpose=Purpose.CONTROL),
        measurement(2, "forged.example", (A, "151.101.1.8"), parse_error="other question"),
        measurement(3, "none.example", responses=0),
        measurement(4, "garbled.example", (A, "not-an-address")),
    ], GLOBAL)
    assert plan == Plan((), (Skipped("garbled.example", "not-an-address", "not an IP address"),))
    assert plan_followups([measurement(1, "control.example", (A, "151.101.1.9"),
                                       purpose=Purpose.CONTROL)],
                          GLOBAL, purposes=(Purpose.CONTROL,)).followups == (
        FollowUp("control.example", "151.101.1.9", (b"\x01" * 16,)),)


def test_followups_per_name_are_bounded_and_the_rest_said() -> None:
    config = WebConfig(max_followups_per_name=2)
    ms = [measurement(i, "many.example", (A, f"151.101.1.{i}"), resolver=f"r{i}")
          for i in range(1, 5)]
    plan = plan_followups(ms, config)
    assert [f.address for f in plan.followups] == ["151.101.1.1", "151.101.1.2"]
    assert plan.skipped == tuple(
        Skipped("many.example", f"151.101.1.{i}", "over web.max_followups_per_name (2)")
        for i in (3, 4))


def test_disabled_plans_nothing() -> None:
    ms = [measurement(1, "site.example", (A, "104.16.0.7"))]
    assert plan_followups(ms, WebConfig(enabled=False)) == Plan((), ())
