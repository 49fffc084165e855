"""Evidence against the lab's real resolvers (issue 10, items 6 and 11e): an
on-path injector flooding identical forged replies ahead of unbound's genuine
one, and DoT timings against unbound and kresd over TLS."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from blockwatch.analysis.verdict import Method, Status
from blockwatch.probe.observation import Failure, Measurement, Transport
from blockwatch.probe.resolvers import ResolverSpec
from blockwatch.probe.runner import Limits
from tests.lab.evidence import judge, measure
from tests.lab.injector import FORGED_ADDRESS, Injector
from tests.lab.probe_cli import once_json, pick, write_config
from tests.lab.world import GOOGLE_ADDR, ISP_ADDR, TLS_NAME, Lab
from tests.lab.zones import CONTROL_NAME
from tests.reliability.conftest import Figures

pytestmark = pytest.mark.lab  # real unbound and kresd from tests/lab

FLOOD_ADDR = "127.0.0.19"
COPIES = 20  # more than the 16 replies a probe keeps


def _addresses(response: dict[str, Any]) -> set[str]:
    return {a["data"] for a in response["answers"] if a["type"] == "A"}


def test_a_flood_of_identical_forgeries_keeps_the_genuine_reply_and_is_injection(
        lab: Lab, tmp_path: Any, figures: Figures) -> None:
    config = write_config(tmp_path / "probe.toml", [{"name": "flooded", "address": FLOOD_ADDR}],
                          identity_checks=False, qtypes=["A"],
                          limits={"timeout_s": 2.0, "listen_window_s": 0.5})
    with Injector(FLOOD_ADDR, 53, (ISP_ADDR, 53), copies=COPIES):
        printed = pick(once_json(config, CONTROL_NAME), CONTROL_NAME, "flooded")
        found = asyncio.run(measure([ResolverSpec("flooded", Transport.UDP, FLOOD_ADDR, 53)],
                                    [CONTROL_NAME],
                                    limits=Limits(timeout_s=2.0, listen_window_s=0.5)))
    responses = printed["responses"]
    assert _addresses(responses[0]) == {FORGED_ADDRESS}
    genuine = _addresses(responses[-1])
    assert genuine and FORGED_ADDRESS not in genuine, responses
    assert printed["reply_count"] == COPIES + 1, printed
    assert printed["answer_set_count"] == 2 and len(responses) == 2
    assert printed["reply_bytes"] >= sum(r["size"] for r in responses)

    (m,) = found
    assert m.reply_count == COPIES + 1 and m.answer_set_count == 2
    verdict = judge(m)
    assert (verdict.status, verdict.method) == (Status.BLOCKED, Method.INJECTED), verdict
    assert {FORGED_ADDRESS, *genuine} <= set(verdict.evidence.answer)
    figures.record("udp_flood", forged_copies=COPIES, replies_counted=m.reply_count,
                   replies_kept=len(m.responses), answer_sets=m.answer_set_count,
                   flood_bytes=m.reply_bytes, genuine_kept=True,
                   verdict=f"{verdict.status.value}/{verdict.method.value}")


def _durations_ms(found: list[Measurement], name: str) -> list[float]:
    return sorted(m.duration_us / 1000 for m in found if m.resolver.name == name)


def test_dot_time_ends_with_the_answer_and_the_close_does_not_slow_the_next_query(
        lab: Lab, figures: Figures) -> None:
    ca = str(lab.ca.ca_path)
    # (not thepiratebay.org: the ISP drops it, which over TCP is a closed connection)
    names = [CONTROL_NAME, "kickasstorrents.to", "limetorrents.pro"] * 3
    specs = [ResolverSpec("isp-tcp", Transport.TCP, ISP_ADDR),
             ResolverSpec("isp-dot", Transport.DOT, ISP_ADDR, tls_name=TLS_NAME, ca_file=ca),
             ResolverSpec("google-dot", Transport.DOT, GOOGLE_ADDR, tls_name=TLS_NAME,
                          ca_file=ca)]
    # one connection at a time per resolver: each query waits for the one before
    limits = Limits(timeout_s=3.0, stream_concurrency=1)
    asyncio.run(measure(specs, names[:1], limits=limits))  # warm the resolvers' caches
    started = time.monotonic()
    found = asyncio.run(measure(specs, names, limits=limits))
    elapsed = time.monotonic() - started
    assert len(found) == 3 * len(names)
    assert all(m.failure is Failure.NONE for m in found), [
        (m.resolver.name, m.domain, m.failure_text) for m in found if m.failure]
    figures_ms = {name: _durations_ms(found, name)
                  for name in ("isp-tcp", "isp-dot", "google-dot")}
    for name in ("isp-dot", "google-dot"):
        median = figures_ms[name][len(names) // 2]
        assert median < 300, (name, figures_ms[name])
    # nine queries one after another per resolver: no second spent on each close
    assert elapsed < 4.0, (elapsed, figures_ms)
    figures.record("dot_timing", median_ms={n: round(v[len(v) // 2], 1)
                                            for n, v in figures_ms.items()},
                   sequential_queries_per_resolver=len(names), round_s=round(elapsed, 2))
