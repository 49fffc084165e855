"""A round's web follow-up plan keeps (name, address) -> measurement ids, not the
round's measurements: the probe's peak memory must not grow with their answers."""

from __future__ import annotations

import gc
import tracemalloc

from blockwatch.probe.followup import Followable
from blockwatch.probe.observation import (
    Measurement,
    Purpose,
    Record,
    ResolverRef,
    Response,
    Transport,
)
from blockwatch.probe.webconfig import WebConfig

NAMES = 5000
RESOLVERS = ("isp", "cloudflare", "google")


def _measurement(i: int, resolver: str) -> Measurement:
    name = f"site{i}.example"
    # a realistic answer: a CNAME, several addresses of both families
    answers = (Record(name, 5, 300, f"edge{i}.cdn.example"),
               *(Record(f"edge{i}.cdn.example", 1, 60, f"192.0.{i % 250}.{k}")
                 for k in range(1, 5)),
               Record(f"edge{i}.cdn.example", 28, 60, f"2001:db8::{i:x}"))
    return Measurement(
        measurement_id=i.to_bytes(8, "big") + resolver.encode().ljust(8, b"\0"),
        round_id="r", started_at_us=0, duration_us=0, domain=name, qtype=1, qclass=1,
        purpose=Purpose.TARGET, resolver=ResolverRef(resolver, "192.0.2.53", 53, Transport.UDP),
        responses=[Response(0, 0, 0, answers=answers, cname_chain=(f"edge{i}.cdn.example",),
                            authority_count=1, edns=True)])


def _feed(kept: Followable) -> None:
    for i in range(NAMES):
        for resolver in RESOLVERS:
            kept(_measurement(i, resolver))


def test_the_plan_holds_ids_not_measurements() -> None:
    config = WebConfig(allow_non_global=True)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = Followable(config)
        _feed(kept)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    measurements = NAMES * len(RESOLVERS)
    # two pairs per name (first A, first AAAA), three ids each: ~0.3 KB per pair;
    # keeping the measurements costs ~3 KB each
    assert held / measurements < 400, f"{held / measurements:.0f} bytes kept per measurement"
    plan = kept.plan()
    assert len(plan.followups) == 2 * NAMES
    first = plan.followups[0]
    assert (first.name, first.address) == ("site0.example", "192.0.0.1")
    assert len(first.dns_measurement_ids) == len(RESOLVERS)   # attribution survives
