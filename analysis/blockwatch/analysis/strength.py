"""Evidence strength: a single timeout does not convict.

A DNS `drop` or a web `ip-drop` says only that nothing came back; a lost
packet or a server restarting says the same once. Such a verdict stays
`blocked` only when the evidence agrees with itself (docs/verdicts.md,
"Evidence strength"):
- the same result on another attempt in the same round (a retry, or another
  address of the same name),
- or in the round before or after, for the same (probe, path, name);
and nothing in the same round got through. Until then it is `suspect`.
Pure: the caller hands over the history of one (probe, path, name): for the
web, the probe's follow-ups of the name (webstorage.py); for DNS, the
probe's measurements of the name through one resolver name, every query
type and transport (sitesql.py, where the engine runs the same rule).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from blockwatch.analysis.verdict import Status

# Methods that rest on silence: DNS drop (verdict.Method.DROP), web ip-drop.
SILENT_METHODS = frozenset({"drop", "ip-drop"})


@dataclass(frozen=True, slots=True)
class Attempt:
    """One verdict in the history of a (probe, path, name)."""

    round_number: int          # ordinal of the round (consecutive rounds differ by 1)
    status: Status
    method: str = ""
    address: str = ""          # the web follow-up's address ("" for DNS)
    attempt_id: str = ""       # measurement / observation id, to tell attempts apart


def _same_block(a: Attempt, b: Attempt) -> bool:
    return a.status is Status.BLOCKED and b.status is Status.BLOCKED and a.method == b.method


def corroborated(attempt: Attempt, history: Iterable[Attempt]) -> bool:
    """Whether another attempt backs this silent block up and none in its round
    contradicts it."""
    others = [h for h in history if h != attempt]   # the history may include it
    same_round = [h for h in others if h.round_number == attempt.round_number]
    if any(h.status is Status.OK for h in same_round):
        return False       # it got through on a retry or another address: transient
    return any(_same_block(attempt, h) for h in same_round) or any(
        _same_block(attempt, h) for h in others
        if abs(h.round_number - attempt.round_number) == 1)


def strengthen(attempt: Attempt, history: Iterable[Attempt]) -> Status:
    """The status to report: a silent block without corroboration is `suspect`;
    every other verdict keeps its status."""
    if attempt.status is not Status.BLOCKED or attempt.method not in SILENT_METHODS:
        return attempt.status
    return Status.BLOCKED if corroborated(attempt, history) else Status.SUSPECT
