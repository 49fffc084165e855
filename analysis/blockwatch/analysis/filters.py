"""Report filters: one typed value built at the entry point (CLI flags, or the
Reports RPC request) and passed down to the queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from blockwatch.analysis.errors import UsageError

BY_CHOICES = ("", "country", "asn", "domain")
# --layer: which layer's verdicts a report counts (docs/reports.md); "" = site
LAYER_CHOICES = ("dns", "web", "site")
DEFAULT_LAYER = "site"


def country_code(value: str) -> str:
    """An ISO 3166-1 alpha-2 code from what pycountry knows: a code (IT, ITA) or
    a name (Italy); empty stays empty (no filter)."""
    text = value.strip()
    if not text:
        return ""
    import pycountry  # analysis extra; only looked up when a country is given

    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        raise UsageError(f"{value!r} is not a country (an ISO code such as IT, or a name "
                         "such as Italy)", field="country") from None


@dataclass(frozen=True, slots=True)
class Filters:
    order: str = ""
    country: str = ""
    resolver: str = ""
    site: str = ""
    since: dt.date | None = None   # UTC days, both inclusive: reports read a daily rollup
    until: dt.date | None = None
    by: str = ""                   # "" (country), "country", "asn" or "domain"
    layer: str = ""                # "" (the default, site), "dns", "web" or "site"

    def __post_init__(self) -> None:
        if self.layer and self.layer not in LAYER_CHOICES:
            raise UsageError(f"{self.layer!r}: expected one of {', '.join(LAYER_CHOICES)}",
                             field="layer")
        if self.by not in BY_CHOICES:
            raise UsageError(f"{self.by!r}: expected one of country, asn, domain", field="by")
        if self.since and self.until and self.since > self.until:
            raise UsageError(f"{self.since} is after --until {self.until}", field="since")

    @classmethod
    def parse(cls, *, order: str = "", country: str = "", resolver: str = "",
              site: str = "", since: str = "", until: str = "", by: str = "",
              layer: str = "") -> Filters:
        """From text as a user types it (CLI flags, RPC fields)."""
        return cls(order=order.strip(), country=country_code(country),
                   resolver=resolver.strip(), site=site.strip(),
                   since=parse_day(since, "since"), until=parse_day(until, "until"),
                   by="" if by == "country" else by, layer=layer.strip().lower())

    @property
    def by_asn(self) -> bool:
        return self.by == "asn"

    @property
    def by_domain(self) -> bool:
        return self.by == "domain"

    @property
    def layer_name(self) -> str:
        """The layer a layered report counts: the one asked for, else site."""
        return self.layer or DEFAULT_LAYER

    def as_of(self, today: dt.date | None = None) -> dt.date:
        """The day 'now' means for days-late: --until if given, else today (UTC)."""
        return self.until or today or dt.datetime.now(dt.UTC).date()

    def parameters(self) -> dict[str, Any]:
        """Query parameters; an empty filter matches everything."""
        return {
            "order": self.order, "country": self.country.upper(), "resolver": self.resolver,
            "site": self.site, "since": self.since or dt.date(1970, 1, 1),
            "until": self.until or dt.date(2149, 6, 6), "by_asn": int(self.by_asn),
            "by_domain": int(self.by_domain), "layer": self.layer_name,
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


def parse_time(value: str) -> dt.datetime:
    """An ISO 8601 timestamp (Z or an offset) as an aware UTC datetime."""
    stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
