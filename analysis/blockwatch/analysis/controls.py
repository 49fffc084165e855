"""Control context for a set of observations: pure, from observations only.

- reference: the resolution of the same name and type from an unfiltered
  vantage (a probe registered with `--control`, or a control resolution stored
  the same way) nearest in time, within `window_us`;
- control addresses: every address unfiltered vantages got for the name in
  that window (CDNs answer differently per vantage);
- health: did the same probe, through the same resolver and transport, get a
  response for a control domain nearest in time? A resolver that fails those
  too is broken, not blocking.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from blockwatch.analysis.observation import (
    ControlContext,
    Health,
    Observation,
    Outcome,
    Reference,
    outcome,
)

DEFAULT_WINDOW_US = 6 * 3600 * 1_000_000   # a few probe rounds either side
_WORKING = (Outcome.ANSWERED, Outcome.NODATA, Outcome.NXDOMAIN)


@dataclass(frozen=True, slots=True)
class _Timed:
    times: list[int]
    items: list[Observation]

    def nearest(self, at_us: int, window_us: int) -> Observation | None:
        i = bisect.bisect_left(self.times, at_us)
        best: Observation | None = None
        best_gap = window_us + 1
        for j in (i - 1, i):
            if 0 <= j < len(self.times) and abs(self.times[j] - at_us) < best_gap:
                best, best_gap = self.items[j], abs(self.times[j] - at_us)
        return best

    def within(self, at_us: int, window_us: int) -> Sequence[Observation]:
        lo = bisect.bisect_left(self.times, at_us - window_us)
        hi = bisect.bisect_right(self.times, at_us + window_us)
        return self.items[lo:hi]


def _index(observations: Iterable[Observation], *, by_probe: bool
           ) -> dict[tuple[object, ...], _Timed]:
    groups: dict[tuple[object, ...], list[Observation]] = {}
    for obs in observations:
        k: tuple[object, ...] = ((obs.probe_name, obs.resolver_name, obs.transport) if by_probe
                                 else (obs.domain, obs.qtype))
        groups.setdefault(k, []).append(obs)
    out = {}
    for k, items in groups.items():
        items.sort(key=lambda o: o.started_at_us)
        out[k] = _Timed([o.started_at_us for o in items], items)
    return out


class ControlIndex:
    """Looks up control context; built once per batch of observations."""

    def __init__(self, references: Iterable[Observation], health: Iterable[Observation],
                 window_us: int = DEFAULT_WINDOW_US) -> None:
        self._window = window_us
        self._refs = _index((o for o in references if o.probe_control), by_probe=False)
        self._health = _index((o for o in health if o.purpose == "control"), by_probe=True)

    def context(self, obs: Observation) -> ControlContext:
        refs = self._refs.get((obs.domain, obs.qtype))
        reference: Reference | None = None
        addresses: tuple[str, ...] = ()
        if refs is not None:
            near = refs.nearest(obs.started_at_us, self._window)
            if near is not None and near.measurement_id != obs.measurement_id:
                reference = Reference(outcome(near), near.addresses, near.measurement_id,
                                      near.started_at_us)
            seen = {a for o in refs.within(obs.started_at_us, self._window)
                    if o.measurement_id != obs.measurement_id for a in o.addresses}
            addresses = tuple(sorted(seen))
        health = Health.UNKNOWN
        checks = self._health.get((obs.probe_name, obs.resolver_name, obs.transport))
        if checks is not None:
            near = checks.nearest(obs.started_at_us, self._window)
            if near is not None:
                health = Health.ANSWERS if outcome(near) in _WORKING else Health.FAILS
        return ControlContext(reference, health, addresses)
