"""A round's web follow-up: plan it from the round's DNS measurements (webplan),
run it (web.WebEngine), say what was skipped and how it went.

The agent calls this after each round's DNS; observations go to the same sink
as measurements (spooled, delivered, acknowledged alike).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from blockwatch.probe.observation import Failure, Measurement, Purpose
from blockwatch.probe.web import WebEngine
from blockwatch.probe.webobservation import WebObservation
from blockwatch.probe.webplan import plan_followups

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
    """Keeps, of a round's measurements, only those the plan can use: target names
    whose first response carries answers (the rest costs memory for nothing)."""

    def __init__(self) -> None:
        self.measurements: list[Measurement] = []

    def __call__(self, m: Measurement) -> None:
        first = m.first
        if m.purpose in _FOLLOWED and first is not None and first.answers:
            self.measurements.append(m)


async def follow_round(engine: WebEngine, measurements: list[Measurement], round_id: str,
                       sink: WebSink) -> WebSummary:
    started = time.monotonic()
    plan = plan_followups(measurements, engine.config)
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
