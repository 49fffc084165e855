"""The `mirrors` report (issue 14): each mirror candidate the collector derived
(`mirror_candidates`, with its evidence and provenance), the site it belongs
to, when first seen, and whether it is reachable in each of the order's
countries through each of its intermediaries.

A candidate the order lists (an approved one, or a mirror in the order file)
or one an analyst rejected is not shown. Reachability reads the measurements
probes made of the candidate (purpose `candidate`, or `target` once listed)
outside control vantages: `yes` when the latest day measured resolved it at
least once, `no` when that day only saw blocks, `not measured` before any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blockwatch.analysis.queries import CONCLUSIVE

MIRRORS = """
WITH c AS (
    SELECT order_id, site, candidate,
        arrayStringConcat(arraySort(groupUniqArray(toString(source))), ',') AS sources,
        arrayStringConcat(arraySort(groupUniqArray(concat(toString(source), ': ', evidence,
            ' [probe ', probe_name, ', observation ', observation_id, ']'))), '; ') AS evidence,
        min(first_seen) AS first_seen
    FROM mirror_candidates FINAL
    WHERE ({order:String} = '' OR order_id = {order:String})
      AND ({site:String} = '' OR site = {site:String})
      AND (order_id, candidate) NOT IN (SELECT order_id, domain FROM candidate_rejections FINAL)
      AND (order_id, candidate) NOT IN (SELECT order_id, domain FROM order_domains FINAL)
    GROUP BY order_id, site, candidate),
cells AS (
    SELECT c.order_id AS order_id, c.site AS site, c.candidate AS candidate,
        c.sources AS sources, c.evidence AS evidence, c.first_seen AS first_seen,
        arrayJoin(o.countries) AS country, arrayJoin(o.intermediaries) AS resolver
    FROM c INNER JOIN (SELECT order_id, countries, intermediaries FROM orders FINAL) AS o
        ON o.order_id = c.order_id),
daily AS (
    SELECT domain, probe_country AS country, resolver_name AS resolver, day,
        sumIf(measurements, verdict = 'ok') AS ok,
        sumIf(measurements, verdict IN """ + CONCLUSIVE + """) AS conclusive
    FROM verdicts_daily
    WHERE NOT probe_control AND purpose IN ('candidate', 'target')
      AND domain IN (SELECT candidate FROM c)
    GROUP BY domain, country, resolver, day
    HAVING conclusive > 0),
reach AS (
    SELECT domain, country, resolver, sum(ok) AS resolved, sum(conclusive) AS measured,
        argMax(ok, day) AS ok_last, max(day) AS last_day
    FROM daily GROUP BY domain, country, resolver)
SELECT x.order_id, x.site, x.candidate, x.sources, x.evidence, x.first_seen, x.country,
    x.resolver, r.resolved, r.measured, r.ok_last, r.last_day
FROM cells AS x
LEFT JOIN reach AS r
    ON r.domain = x.candidate AND r.country = x.country AND r.resolver = x.resolver
WHERE ({country:String} = '' OR x.country = {country:String})
  AND ({resolver:String} = '' OR x.resolver = {resolver:String})
ORDER BY x.order_id, x.site, x.candidate, x.country, x.resolver
SETTINGS join_use_nulls = 1
"""

# (title, kind) of the report's columns; reports.py builds the Report
COLUMNS = (("order", "text"), ("site", "text"), ("candidate", "text"), ("sources", "text"),
           ("evidence", "text"), ("first seen", "time"), ("country", "text"),
           ("intermediary", "text"), ("resolved", "int"), ("measured", "int"),
           ("last measured", "date"), ("reachable", "text"))


def reachable(measured: int, ok_last: int) -> str:
    if not measured:
        return "not measured"
    return "yes" if ok_last else "no"


def values(row: Sequence[Any]) -> tuple[Any, ...]:
    """One query row as the report's values (first seen still a datetime)."""
    (order, site, candidate, sources, evidence, first, country, resolver, resolved,
     measured, ok_last, last_day) = row
    n = int(measured or 0)
    return (order, site, candidate, sources, evidence, first, country, resolver,
            int(resolved or 0), n, last_day.isoformat() if n and last_day is not None else None,
            reachable(n, int(ok_last or 0)))
