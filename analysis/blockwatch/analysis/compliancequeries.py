"""The compliance report's SQL: per order and intermediary, from the site
layer of the layered rollup (`layers_daily`, migration 0008) and the order
tables the collector mirrors (orders, order_domains, order_intermediaries).

An intermediary complies only through a remedy it controls (issue 13): its
resolvers' DNS answers (party `resolver` on a path through one of its
resolvers) or its own network or edge (party `edge` / `network` / `server`
whose operator is one of its networks, or party `network` on a probe in one of
its ASNs). Every other block on the paths in scope is someone else's, counted
apart (`others`).

In scope: the paths through the intermediary's resolvers; for an intermediary
with an edge (a network named by operator: the edge serves the sites whatever
the resolver) every path in the ordered countries; for one with ASNs, the
paths of probes in them.

The share counts a measurement when it shows what the intermediary did: its
own block, or a reachable site. Another party's block says nothing of an
edge the request never reached, and is left out; but on its own path an
intermediary whose only remedy is DNS was seen answering unblocked (the block
came later, by someone else): that counts, as not blocked.

One scan of the rollup, one row per order, intermediary (ASN with --by asn),
domain and day: compliance.py sums them into the report's rows (applying each
domain's due day) and into the per-day timeline, so the report with and
without --by domain and the order page's timelines are one query, which the
web view runs once for all three (a CTE referenced twice would be computed
twice).
"""

from __future__ import annotations

from blockwatch.contract.vocabulary import Purpose

_TARGET = f"'{Purpose.TARGET.label}'"   # the contract's word, as the SQL compares it

CONCLUSIVE = "('ok', 'blocked', 'filtered', 'suspect')"

# Each domain is due from its own date: the day it joined the order (`added`;
# the issue date for the domains the order named) plus the order's grace, the
# days it gave from issue to deadline (as queries.py's leakage report).
_DUE = """od AS (
    SELECT d.order_id AS order_id, d.site AS site, d.domain AS domain,
        toString(d.kind) AS kind, d.added AS added,
        greatest(o.deadline, addDays(d.added, dateDiff('day', o.issued, o.deadline))) AS due
    FROM order_domains AS d FINAL
    INNER JOIN (SELECT order_id, issued, deadline FROM orders FINAL) AS o
        ON o.order_id = d.order_id
    WHERE ({order:String} = '' OR d.order_id = {order:String})
      AND ({site:String} = '' OR d.site = {site:String}))"""

# An order whose intermediaries were mirrored before migration 0009 (or by a
# writer that knows only `orders.intermediaries`) has plain names: each its
# one resolver, no network.
_GROUPS_SQL = """g AS (
    SELECT i.order_id AS order_id, i.intermediary AS intermediary, i.resolvers AS resolvers,
        arrayMap(x -> lower(x), i.networks) AS networks,
        arrayFilter(x -> NOT match(x, '^as[0-9]+$'), networks) AS edges,
        o.deadline AS deadline,
        o.countries AS countries
    FROM (
        SELECT order_id, toString(intermediary) AS intermediary,
            CAST(resolvers, 'Array(String)') AS resolvers,
            CAST(networks, 'Array(String)') AS networks
        FROM order_intermediaries FINAL
        UNION ALL
        SELECT order_id, toString(arrayJoin(intermediaries)) AS intermediary,
            [intermediary] AS resolvers, CAST([], 'Array(String)') AS networks
        FROM orders FINAL
        WHERE order_id NOT IN (SELECT order_id FROM order_intermediaries)) AS i
    INNER JOIN (SELECT order_id, deadline, countries FROM orders FINAL) AS o
        ON o.order_id = i.order_id
    WHERE ({order:String} = '' OR i.order_id = {order:String})
      AND (%s))"""
_GROUPS = _GROUPS_SQL % """{resolver:String} = '' OR i.intermediary = {resolver:String}
           OR has(i.resolvers, {resolver:String})"""
# one named intermediary of the order (the measurements behind its counts)
GROUP_NAMED = _GROUPS_SQL % "i.intermediary = {intermediary:String}"

# The rules, on a row `r` of layers_daily or site_verdicts (the same column
# names) joined with its group `g`: whose hand, and whether it is counted.
OWN_PATH = "has(g.resolvers, r.resolver_name)"
OWN = """(r.verdict = 'blocked' AND (
            (r.party = 'resolver' AND """ + OWN_PATH + """)
            OR (r.party IN ('network', 'edge', 'server') AND has(g.networks, lower(r.operator)))
            OR (r.party = 'network'
                AND has(g.networks, concat('as', toString(r.probe_asn))))))"""
OTHER = "(r.verdict = 'blocked' AND NOT " + OWN + ")"
COUNTED = "(r.verdict IN " + CONCLUSIVE + """
            AND (NOT """ + OTHER + " OR (" + OWN_PATH + " AND empty(g.networks))))"
IN_SCOPE = "(" + OWN_PATH + """ OR notEmpty(g.edges)
           OR has(g.networks, concat('as', toString(r.probe_asn))))"""

# The rollup's key starts (layer, probe_country, resolver_name, domain, day):
# the IN lists on those columns let the engine skip granules before any join.
_SCAN = """r.layer = 'site'
      AND r.day BETWEEN {since:Date} AND {until:Date}
      AND r.probe_country IN (SELECT arrayJoin(countries) FROM g)
      AND ({country:String} = '' OR r.probe_country = {country:String})
      AND ({resolver:String} = '' OR r.resolver_name = {resolver:String})
      AND r.domain IN (SELECT domain FROM od)
      AND NOT r.probe_control AND r.purpose = """ + _TARGET

_FACTS = "WITH " + _DUE + ",\n" + _GROUPS + """,
facts AS (
    SELECT g.order_id AS order_id, g.intermediary AS intermediary,
        if({by_asn:UInt8} = 1, r.probe_asn, 0) AS asn,
        od.domain AS domain, od.kind AS kind, od.added AS added, od.due AS due, r.day AS day,
        toString(r.verdict) AS verdict, r.measurements AS measurements,
        r.first_at AS first_at, r.last_at AS last_at,
        """ + OWN_PATH + """ AS own_path, """ + OWN + """ AS own,
        """ + OTHER + """ AS other, """ + COUNTED + """ AS counted,
        (toString(r.site_layer), toString(r.party), r.method) AS how,
        (toString(r.party), r.operator, if(r.party = 'resolver', r.resolver_name, ''), r.method)
            AS whose
    FROM layers_daily AS r
    INNER JOIN od ON od.domain = r.domain
    INNER JOIN g ON g.order_id = od.order_id
    WHERE """ + _SCAN + """
      AND has(g.countries, r.probe_country) AND """ + IN_SCOPE + ")"

COMPLIANCE = _FACTS + """,
per_day AS (
    SELECT order_id, intermediary, asn, domain, day, any(kind) AS d_kind,
        any(added) AS d_added, any(due) AS d_due,
        minIfOrNull(first_at, verdict IN """ + CONCLUSIVE + """) AS d_since,
        minIfOrNull(first_at, own) AS d_first,
        minIfOrNull(first_at, verdict = 'ok' OR (other AND counted)) AS d_open,
        sumIf(measurements, own) AS d_blocked,
        sumIf(measurements, counted) AS d_total,
        sumIf(measurements, other) AS d_others,
        countIf(own_path AND verdict IN """ + CONCLUSIVE + """) > 0 AS d_own_paths,
        groupUniqArrayIf(how, own) AS d_remedies,
        groupUniqArrayIf(whose, other) AS d_others_how,
        -- on a tie of last_at (paths measured at the same instant) reachable wins:
        -- a mirror some path still reaches is not blocked, and the answer is stable
        argMaxIf(verdict, (last_at, verdict = 'ok'), verdict IN """ + CONCLUSIVE + """)
            AS d_latest,
        maxIfOrNull(last_at, verdict IN """ + CONCLUSIVE + """) AS d_latest_at
    FROM facts
    GROUP BY order_id, intermediary, asn, domain, day)
SELECT g.order_id AS order_id, g.intermediary AS intermediary, d.asn AS asn,
    d.domain AS domain, d.d_kind, d.d_added, g.deadline AS deadline, d.d_due, d.day,
    d.d_since, d.d_first, d.d_open, d.d_blocked, d.d_total, d.d_others, d.d_own_paths,
    d.d_remedies, d.d_others_how, d.d_latest, d.d_latest_at
FROM g
LEFT JOIN per_day AS d ON d.order_id = g.order_id AND d.intermediary = g.intermediary
ORDER BY order_id, intermediary, asn, domain, d.day
SETTINGS join_use_nulls = 1"""
