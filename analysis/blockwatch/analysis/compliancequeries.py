"""The compliance report's SQL (reports.py has the other reports').

Reads the same daily rollup and order tables as queries.py, with its due-day
and order CTEs, so a domain is counted from the same day in every report.
"""

from __future__ import annotations

from blockwatch.analysis.queries import _DUE, _ORDERS, _ROLLUP_FILTERS, CONCLUSIVE

# Per order and intermediary (and ASN or domain), from the order's countries
# only. What the report needs to say days late only with evidence: when
# monitoring began, the first block, the first unblocked answer after a
# domain was due; shares count each domain from its own due day.
COMPLIANCE = "WITH " + _DUE + ",\n" + _ORDERS + """,
facts AS (
    SELECT o.order_id AS order_id, r.resolver_name AS resolver,
        if({by_asn:UInt8} = 1, r.probe_asn, 0) AS asn,
        if({by_domain:UInt8} = 1, od.domain, '') AS domain_key,
        od.domain AS domain, od.kind AS kind, od.added AS added, od.due AS due,
        r.day AS day, toString(r.verdict) AS verdict,
        r.measurements AS measurements, r.first_at AS first_at, r.last_at AS last_at
    FROM verdicts_daily AS r
    INNER JOIN od ON od.domain = r.domain
    INNER JOIN o ON o.order_id = od.order_id
    WHERE """ + _ROLLUP_FILTERS + """
      AND has(o.countries, r.probe_country) AND has(o.intermediaries, r.resolver_name)),
totals AS (
    SELECT order_id, resolver, asn, domain_key, any(kind) AS kind_of,
        min(added) AS added_on, min(due) AS due_on,
        minIfOrNull(first_at, verdict IN """ + CONCLUSIVE + """) AS monitoring_since,
        minIfOrNull(first_at, verdict = 'blocked') AS first_blocked,
        minIfOrNull(first_at, verdict = 'ok' AND day >= due) AS first_open_after_due,
        sumIf(measurements, verdict = 'blocked' AND day >= due) AS blocked,
        sumIf(measurements, verdict IN """ + CONCLUSIVE + """ AND day >= due) AS total
    FROM facts GROUP BY order_id, resolver, asn, domain_key),
mirrors AS (
    SELECT order_id, resolver, asn, domain_key, count() AS mirrors,
        countIf(latest = 'ok') AS resolving,
        countIf(latest = 'ok' AND latest_day >= mirror_due) AS overdue
    FROM (SELECT order_id, resolver, asn, domain_key, domain, any(due) AS mirror_due,
              argMax(verdict, last_at) AS latest, max(day) AS latest_day
          FROM facts WHERE kind = 'mirror' AND verdict IN """ + CONCLUSIVE + """
          GROUP BY order_id, resolver, asn, domain_key, domain)
    GROUP BY order_id, resolver, asn, domain_key),
intermediaries AS (
    SELECT order_id, deadline, arrayJoin(intermediaries) AS resolver FROM o)
SELECT i.order_id AS order_id, i.resolver AS resolver, t.asn AS asn,
    t.domain_key AS domain, t.kind_of AS kind, t.added_on AS added, i.deadline AS deadline,
    t.due_on AS due, t.monitoring_since AS monitoring_since, t.first_blocked AS first_blocked,
    t.first_open_after_due AS first_open_after_due, t.blocked AS blocked, t.total AS total,
    m.mirrors AS mirrors, m.resolving AS mirrors_resolving, m.overdue AS mirrors_overdue
FROM intermediaries AS i
LEFT JOIN totals AS t ON t.order_id = i.order_id AND t.resolver = i.resolver
LEFT JOIN mirrors AS m ON m.order_id = i.order_id AND m.resolver = i.resolver
    AND m.asn = t.asn AND m.domain_key = t.domain_key
WHERE {resolver:String} = '' OR i.resolver = {resolver:String}
ORDER BY order_id, resolver, asn, domain
SETTINGS join_use_nulls = 1"""
