"""The `mirrors` report (issue 14): each mirror candidate the collector derived
(`mirror_candidates`, with its evidence and provenance), the site it belongs
to, when first seen, and whether it is reachable in each of the order's
countries through each of its intermediaries: an intermediary is a group
(order_intermediaries, migration 0009: Cloudflare's resolvers and its edge as
one; a plain name in the order file is a group of that one resolver).

A candidate the order lists (an approved one, or a mirror in the order file)
or one an analyst rejected is not shown. Reachability reads the measurements
probes made of the candidate (purpose `candidate`, or `target` once listed)
outside control vantages, through every resolver of the group: `yes` when the
latest day measured resolved it at least once and the group's own edge (a
network of the group recognised from headers, e.g. `cloudflare`) did not
refuse it that day (a web block by that edge), `no` otherwise, `not measured`
before any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blockwatch.analysis.queries import CONCLUSIVE
from blockwatch.contract.vocabulary import Purpose

# the measurements of a candidate and of the listed domains, as the SQL filters them
_MEASURED = f"('{Purpose.CANDIDATE.label}', '{Purpose.TARGET.label}')"

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
g AS (
    SELECT order_id, toString(intermediary) AS intermediary,
        CAST(resolvers, 'Array(String)') AS resolvers,
        arrayFilter(x -> NOT match(x, '^as[0-9]+$'),
                    arrayMap(x -> lower(x), CAST(networks, 'Array(String)'))) AS edges
    FROM order_intermediaries FINAL
    UNION ALL
    SELECT order_id, toString(arrayJoin(intermediaries)) AS intermediary,
        [intermediary] AS resolvers, CAST([], 'Array(String)') AS edges
    FROM orders FINAL
    WHERE order_id NOT IN (SELECT order_id FROM order_intermediaries)),
cells AS (
    SELECT c.order_id AS order_id, c.site AS site, c.candidate AS candidate,
        c.sources AS sources, c.evidence AS evidence, c.first_seen AS first_seen,
        arrayJoin(o.countries) AS country, g.intermediary AS intermediary,
        g.resolvers AS resolvers, g.edges AS edges
    FROM c INNER JOIN (SELECT order_id, countries FROM orders FINAL) AS o
        ON o.order_id = c.order_id
    INNER JOIN g ON g.order_id = c.order_id),
daily AS (
    SELECT domain, probe_country AS country, resolver_name AS resolver, day,
        sumIf(measurements, verdict = 'ok') AS ok,
        sumIf(measurements, verdict IN """ + CONCLUSIVE + """) AS conclusive
    FROM verdicts_daily
    WHERE NOT probe_control AND purpose IN """ + _MEASURED + """
      AND domain IN (SELECT candidate FROM c)
    GROUP BY domain, country, resolver, day
    HAVING conclusive > 0),
-- the group's own edge refusing the candidate (its 451 or block page) in the country
refusals AS (
    SELECT domain, probe_country AS country, lower(operator) AS edge, day,
        sum(measurements) AS refused
    FROM layers_daily
    WHERE layer = 'web' AND verdict = 'blocked' AND party = 'edge' AND NOT probe_control
      AND purpose IN """ + _MEASURED + """ AND domain IN (SELECT candidate FROM c)
    GROUP BY domain, country, edge, day),
group_daily AS (
    SELECT x.order_id AS order_id, x.candidate AS candidate, x.country AS country,
        x.intermediary AS intermediary, d.day AS day, sum(d.ok) AS ok,
        sum(d.conclusive) AS conclusive
    FROM (SELECT DISTINCT order_id, candidate, country, intermediary,
                 arrayJoin(resolvers) AS resolver FROM cells) AS x
    INNER JOIN daily AS d
        ON d.domain = x.candidate AND d.country = x.country AND d.resolver = x.resolver
    GROUP BY order_id, candidate, country, intermediary, day),
group_refusals AS (
    SELECT x.order_id AS order_id, x.candidate AS candidate, x.country AS country,
        x.intermediary AS intermediary, e.day AS day, sum(e.refused) AS refused
    FROM (SELECT DISTINCT order_id, candidate, country, intermediary,
                 arrayJoin(edges) AS edge FROM cells) AS x
    INNER JOIN refusals AS e
        ON e.domain = x.candidate AND e.country = x.country AND e.edge = x.edge
    GROUP BY order_id, candidate, country, intermediary, day),
reach AS (
    SELECT d.order_id AS order_id, d.candidate AS candidate, d.country AS country,
        d.intermediary AS intermediary, sum(d.ok) AS resolved, sum(d.conclusive) AS measured,
        argMax(d.ok, d.day) AS ok_last, max(d.day) AS last_day,
        argMax(r.refused, d.day) AS refused_last
    FROM group_daily AS d
    LEFT JOIN group_refusals AS r
        ON r.order_id = d.order_id AND r.candidate = d.candidate AND r.country = d.country
        AND r.intermediary = d.intermediary AND r.day = d.day
    GROUP BY order_id, candidate, country, intermediary
    SETTINGS join_use_nulls = 0)
SELECT x.order_id, x.site, x.candidate, x.sources, x.evidence, x.first_seen, x.country,
    x.intermediary, r.resolved, r.measured, r.ok_last, r.last_day, r.refused_last
FROM cells AS x
LEFT JOIN reach AS r
    ON r.order_id = x.order_id AND r.candidate = x.candidate AND r.country = x.country
    AND r.intermediary = x.intermediary
WHERE ({country:String} = '' OR x.country = {country:String})
  AND ({resolver:String} = '' OR x.intermediary = {resolver:String}
       OR has(x.resolvers, {resolver:String}))
ORDER BY x.order_id, x.site, x.candidate, x.country, x.intermediary
SETTINGS join_use_nulls = 1
"""

# (title, kind) of the report's columns; reports.py builds the Report
COLUMNS = (("order", "text"), ("site", "text"), ("candidate", "text"), ("sources", "text"),
           ("evidence", "text"), ("first seen", "time"), ("country", "text"),
           ("intermediary", "text"), ("resolved", "int"), ("measured", "int"),
           ("last measured", "date"), ("reachable", "text"))


def reachable(measured: int, ok_last: int, refused_last: int = 0) -> str:
    """`yes` when the latest day measured resolved it through one of the group's
    resolvers and the group's own edge did not refuse it that day."""
    if not measured:
        return "not measured"
    return "yes" if ok_last and not refused_last else "no"


def values(row: Sequence[Any]) -> tuple[Any, ...]:
    """One query row as the report's values (first seen still a datetime)."""
    (order, site, candidate, sources, evidence, first, country, intermediary, resolved,
     measured, ok_last, last_day, refused_last) = row
    n = int(measured or 0)
    return (order, site, candidate, sources, evidence, first, country, intermediary,
            int(resolved or 0), n, last_day.isoformat() if n and last_day is not None else None,
            reachable(n, int(ok_last or 0), int(refused_last or 0)))
