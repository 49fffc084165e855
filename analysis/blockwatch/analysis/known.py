"""Filter values must name something the database knows: an unknown order,
site, country or resolver is named, with the known ones, instead of an empty
table that looks like a result."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from blockwatch.analysis import queries
from blockwatch.analysis.errors import UsageError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.reports import QueryFn

_SHOWN = 12   # known values listed at most


class UnknownValue(UsageError):
    """A filter names nothing the database knows; `known` lists what it does."""

    def __init__(self, field: str, value: str, known: Sequence[str]) -> None:
        self.known = tuple(known)
        close = difflib.get_close_matches(value, self.known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listed = ", ".join(self.known[:_SHOWN]) + (" …" if len(self.known) > _SHOWN else "")
        super().__init__(f"{value!r} is unknown; {hint}known: {listed or 'none yet'}",
                         field=field)


def check_known(filters: Filters, query: QueryFn, applies: frozenset[str]) -> None:
    """Raise UnknownValue for the first filter (of those that apply) naming nothing."""
    params = filters.parameters()
    checks = (("order", queries.KNOWN_ORDERS), ("site", queries.KNOWN_SITES),
              ("country", queries.KNOWN_COUNTRIES), ("resolver", queries.KNOWN_RESOLVERS))
    for field, sql in checks:
        value = getattr(filters, field)
        if not value or field not in applies:
            continue
        known = [str(r[0]) for r in query(sql, params)]
        if value not in known:
            raise UnknownValue(field, value, known)
