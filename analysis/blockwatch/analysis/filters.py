"""Report filters: one typed value built at the entry point (CLI flags, or the
Reports RPC request) and passed down to the queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from blockwatch.analysis.errors import UsageError

BY_CHOICES = ("", "asn")


@dataclass(frozen=True, slots=True)
class Filters:
    order: str = ""
    country: str = ""
    resolver: str = ""
    site: str = ""
    since: dt.date | None = None   # UTC days, both inclusive: reports read a daily rollup
    until: dt.date | None = None
    by: str = ""                   # "" or "asn"

    def __post_init__(self) -> None:
        if self.by not in BY_CHOICES:
            raise UsageError(f"{self.by!r}: expected asn", field="by")
        if self.since and self.until and self.since > self.until:
            raise UsageError(f"{self.since} is after --until {self.until}", field="since")

    @property
    def by_asn(self) -> bool:
        return self.by == "asn"

    def as_of(self, today: dt.date | None = None) -> dt.date:
        """The day 'now' means for days-late: --until if given, else today (UTC)."""
        return self.until or today or dt.datetime.now(dt.UTC).date()

    def parameters(self) -> dict[str, Any]:
        """Query parameters; an empty filter matches everything."""
        return {
            "order": self.order, "country": self.country.upper(), "resolver": self.resolver,
            "site": self.site, "since": self.since or dt.date(1970, 1, 1),
            "until": self.until or dt.date(2149, 6, 6), "by_asn": int(self.by_asn),
        }


def parse_day(value: str, field: str) -> dt.date | None:
    """YYYY-MM-DD, or an ISO timestamp (its UTC day); empty: no bound."""
    text = value.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{value!r} is not a date (YYYY-MM-DD)", field=field) from exc
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.UTC)
    return stamp.date()
