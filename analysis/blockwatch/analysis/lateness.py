"""Whether an intermediary was late, said only with evidence (pure).

"Days late" accuses: it is given only when the measurements show it. The
first block tells when blocking was first *seen*, which is the start of
lateness's upper bound only if something shows the name was not blocked
before: monitoring that began by the deadline, or an unblocked answer after
the deadline and before the first block. Otherwise the block may well predate
monitoring, and the report says so instead of a number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

NOT_MEASURED = "not measured"
NEVER_BLOCKED = "never blocked"
BLOCKED_AT_START = "blocked when monitoring began"


def blocked_after(days: int) -> str:
    return f"first seen blocked after {days} day{'' if days == 1 else 's'} of monitoring"


@dataclass(frozen=True, slots=True)
class Lateness:
    status: str
    days_late: int | None     # None: no evidence either way


def judge(deadline: dt.date, monitoring_since: dt.datetime | None,
          first_blocked: dt.datetime | None, first_open_after_deadline: dt.datetime | None,
          as_of: dt.date) -> Lateness:
    """Status and evidenced days late of one order, intermediary (and domain).

    `first_open_after_deadline`: the first measurement on or after the
    deadline that resolved (not blocked); `as_of`: the day "now" means."""
    if monitoring_since is None:
        return Lateness(NOT_MEASURED, None)
    began = monitoring_since.date()
    if first_blocked is None:
        if as_of <= deadline:
            return Lateness(NEVER_BLOCKED, 0)            # not due yet
        if first_open_after_deadline is not None:
            return Lateness(NEVER_BLOCKED, (as_of - deadline).days)
        return Lateness(NEVER_BLOCKED, None)             # measured only before the deadline
    seen = first_blocked.date()
    status = BLOCKED_AT_START if seen <= began else blocked_after((seen - began).days)
    late = (seen - deadline).days
    if late <= 0:
        return Lateness(status, 0)                       # blocked by the deadline
    evidenced = began <= deadline or (first_open_after_deadline is not None
                                      and first_open_after_deadline < first_blocked)
    return Lateness(status, late if evidenced else None)
