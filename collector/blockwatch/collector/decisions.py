"""An analyst's decisions on mirror candidates (issue 14): approve one as a
mirror of an order's site, dated today, or reject it for good. The registry
holds them; the collector folds approvals into the order (compliance and
leakage count the mirror from that day) and leaves rejections out of the
candidates it proposes and measures."""

from __future__ import annotations

import datetime as dt

from blockwatch.collector.errors import OrdersError
from blockwatch.collector.orders import _Where, normalize_domain
from blockwatch.collector.registry import Registry


def _domain(text: str) -> str:
    return normalize_domain(text, _Where("command line"), "DOMAIN")


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def approve(registry: Registry, domain: str, order_id: str, site: str,
            day: dt.date | None = None) -> tuple[str, dt.date]:
    """Returns the normalized domain and the day it was added."""
    name = _domain(domain)
    if not site.strip() or len(site) > 128:
        raise OrdersError("a site name of 1 to 128 characters is required",
                          source="command line", field="--site")
    added = day or today()
    registry.add_mirror(order_id, site.strip(), name, added)
    return name, added


def reject(registry: Registry, domain: str, order_id: str, day: dt.date | None = None) -> str:
    name = _domain(domain)
    registry.reject_candidate(order_id, name, day or today())
    return name
