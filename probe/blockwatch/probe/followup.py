"""A round's web follow-up: plan it from the round's DNS measurements (webplan),
run it (web.WebEngine), say what was skipped and how it went.

The agent feeds `Followable` as DNS measurements arrive and calls `follow_round`
after the round's DNS; observations go to the same sink
as measurements (spooled, delivered, acknowledged alike).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from blockwatch.probe.observation import Failure, Measurement, Purpose
from blockwatch.probe.web import WebEngine
from blockwatch.probe.webconfig import WebConfig
from blockwatch.probe.webobservation import WebObservation
from blockwatch.probe.webplan import Plan, Planner

log = logging.getLogger(__name__)

# names whose answers are followed on the web: listed sites and possible mirrors
_FOLLOWED = (Purpose.TARGET, Purpose.CANDIDATE)

WebSink = Callable[[WebObservation], None]


@dataclass(slots=True)
class WebSummary:
    followups: int = 0                 # distinct (name, address) pairs followed
    observations: int = 0              # one per pair and port
    skipped: int = 0                   # answer addresses not followed (reason logged)
    failures: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0


class Followable:
    """Takes a round's measurements as they are measured and keeps only what the plan
    needs: (name, address) -> measurement ids of target names' first answers. Keeping
    the measurements themselves made the probe's peak memory grow with the round."""

    def __init__(self, config: WebConfig) -> None:
        self._planner = Planner(config, _FOLLOWED)

    def __call__(self, m: Measurement) -> None:
        self._planner.add(m)

    def __len__(self) -> int:
        return len(self._planner)

    def plan(self) -> Plan:
        return self._planner.plan()


async def follow_round(engine: WebEngine, plan: Plan, round_id: str,
                       sink: WebSink) -> WebSummary:
    started = time.monotonic()
    summary = WebSummary(followups=len(plan.followups), skipped=len(plan.skipped))
    for skipped in plan.skipped[:20]:
        log.info("web follow-up skips %s -> %s: %s", skipped.name, skipped.address,
                 skipped.reason)
    if len(plan.skipped) > 20:
        log.info("web follow-up skips %d more answer addresses", len(plan.skipped) - 20)

    def take(observation: WebObservation) -> None:
        summary.observations += 1
        failure = observation.failure
        if failure is not Failure.NONE:
            summary.failures[failure.label] = summary.failures.get(failure.label, 0) + 1
        sink(observation)

    await engine.run(plan.followups, round_id, take)
    summary.elapsed_s = time.monotonic() - started
    return summary
