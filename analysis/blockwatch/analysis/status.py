"""How complete the data behind a report is: how many measurements are stored,
how many await classification (the classifier waits a settle time after they
arrive) and since when. Every report carries it, so partial totals never pass
for final ones."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from blockwatch.analysis import queries
from blockwatch.analysis.errors import AnalysisError
from blockwatch.analysis.reports import QueryFn, iso_time


class WaitTimeout(AnalysisError):
    """Measurements still awaited classification when --wait gave up."""


@dataclass(frozen=True, slots=True)
class Status:
    measurements: int = 0          # stored
    verdicts: int = 0              # classified
    pending: int = 0               # stored, not yet classified
    pending_since: dt.datetime | None = None   # the oldest of those arrived then
    # follow-ups whose web verdict came after their DNS measurements' site
    # verdicts (webstorage.late_follow_ups): missing from those until a reclassify
    late_follow_ups: int = 0
    late_since: dt.date | None = None          # the earliest day they were made

    @property
    def empty(self) -> bool:
        return not self.measurements and not self.verdicts

    def note(self, now: dt.datetime | None = None) -> str:
        """One line for people; empty when there is nothing to say."""
        if self.empty:
            return "no measurements yet: nothing has been stored (are probes uploading?)"
        late = self.late_note()
        if not self.pending:
            return late
        since = ""
        if self.pending_since is not None:
            age = ((now or dt.datetime.now(dt.UTC)) - self.pending_since).total_seconds()
            since = f" since {iso_time(self.pending_since)} ({max(0, int(age))} s ago)"
        one = self.pending == 1
        return (f"{self.pending} measurement{'' if one else 's'} await{'s' if one else ''} "
                f"classification{since}: figures are partial (--wait waits for them)"
                + (f"; {late}" if late else ""))

    def late_note(self) -> str:
        if not self.late_follow_ups:
            return ""
        day = self.late_since.isoformat() if self.late_since else "DAY"
        return (f"{self.late_follow_ups} follow-up{'' if self.late_follow_ups == 1 else 's'} "
                f"arrived after their site verdicts; run reclassify --since {day}")


# Follow-ups missing from their site verdicts (web_verdicts.late, migration 0012);
# a reclassify of their day writes them again without the flag.
LATE = """SELECT uniqExact(observation_id), minOrNull(toDate(started_at))
FROM web_verdicts FINAL WHERE late"""


def read_status(query: QueryFn) -> Status:
    rows = query(queries.STATUS, {})
    measurements, verdicts, pending, since = rows[0]
    stamp = since if isinstance(since, dt.datetime) and int(pending) else None
    if stamp is not None and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    late, late_since = query(LATE, {})[0]
    return Status(int(measurements), int(verdicts), int(pending), stamp, int(late),
                  late_since if isinstance(late_since, dt.date) and int(late) else None)


def wait_classified(read: Callable[[], Status], timeout_s: float, *, poll_s: float = 0.5,
                    clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep) -> Status:
    """Poll until nothing awaits classification; WaitTimeout after timeout_s."""
    deadline = clock() + timeout_s
    while True:
        status = read()
        if not status.pending:
            return status
        if clock() >= deadline:
            raise WaitTimeout(
                f"gave up after {timeout_s:g} s: {status.pending} measurements still await "
                "classification (a collector classifies them a settle time after they "
                "arrive; with --db and no collector running, run `blockwatch reclassify`)")
        sleep(min(poll_s, max(0.0, deadline - clock())))
