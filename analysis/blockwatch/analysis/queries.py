"""Report SQL: one set of queries for embedded chDB and a ClickHouse server.

`effectiveness`, `leakage`, `spillover` and `timeline` read the layered daily
rollup `layers_daily` (migration 0008) at one layer, `--layer dns|web|site`
(the `layer` parameter; docs/reports.md): three rows per site verdict, so a
report reads only its layer's part of the key. `verdicts_daily` (migration
0004, the DNS verdicts alone) stays for what still reads it. Both are joined
with the small `orders` / `order_domains` tables the collector mirrors from its
registry. Filters are query parameters; an empty one matches everything
(`{country:String} = '' OR ...` folds to a constant), so there is no SQL
assembled from user input.

Shares are not computed here: the report layer divides once so every output
format shows the same number.
"""

from __future__ import annotations

from blockwatch.contract.vocabulary import Failure, Purpose

# the contract's words as the SQL compares them
_TARGET = f"'{Purpose.TARGET.label}'"
_CONTROL = f"'{Purpose.CONTROL.label}'"
_NO_FAILURE = f"'{Failure.NONE.label}'"

CONCLUSIVE = "('ok', 'blocked', 'filtered', 'suspect')"

# verdicts_daily (DNS only): what the rollup filters mean there
_ROLLUP_FILTERS = """r.day BETWEEN {since:Date} AND {until:Date}
      AND ({country:String} = '' OR r.probe_country = {country:String})
      AND ({resolver:String} = '' OR r.resolver_name = {resolver:String})
      AND NOT r.probe_control AND r.purpose = """ + _TARGET

# layers_daily: the same filters on one layer (the key's first column)
_LAYER_FILTERS = "r.layer = {layer:String}\n      AND " + _ROLLUP_FILTERS
# layers_sites_daily (migration 0011) holds non-control targets only, without
# ASN, transport and family: a quarter of the rows, for the reports that need
# none of them (effectiveness, spillover and timeline unless --by asn)
_SITES_FILTERS = """r.layer = {layer:String}
      AND r.day BETWEEN {since:Date} AND {until:Date}
      AND ({country:String} = '' OR r.probe_country = {country:String})
      AND ({resolver:String} = '' OR r.resolver_name = {resolver:String})"""

# The whole months of the asked range come from layers_sites_monthly (0014),
# a thirtieth of the daily rollup's rows; the days of the partial months at
# its edges from layers_sites_daily. The bounds are constants (Date32: the
# default --until is Date's last day, whose next day would wrap), so each side
# prunes its partitions; no day is counted twice or missed: a day is in a
# whole month or it is not. The same columns as layers_sites_daily, no day;
# the order's domains only (the caller's `od`), filtered in each branch.
_WHOLE_FROM = ("if(toDayOfMonth({since:Date}) = 1, toDate32({since:Date}), "
               "addMonths(toStartOfMonth(toDate32({since:Date})), 1))")
_WHOLE_BEFORE = "toStartOfMonth(addDays(toDate32({until:Date}), 1))"
_PLACE = """r.layer = {layer:String}
          AND ({country:String} = '' OR r.probe_country = {country:String})
          AND ({resolver:String} = '' OR r.resolver_name = {resolver:String})
          AND r.domain IN (SELECT domain FROM od)"""
_SITES_SPAN = """(
        SELECT r.layer AS layer, r.probe_country AS probe_country,
            r.resolver_name AS resolver_name, r.domain AS domain, r.verdict AS verdict,
            r.site_layer AS site_layer, r.method AS method, r.party AS party,
            r.operator AS operator, r.measurements AS measurements
        FROM layers_sites_monthly AS r
        WHERE """ + _PLACE + """
          AND r.month >= """ + _WHOLE_FROM + """ AND r.month < """ + _WHOLE_BEFORE + """
        UNION ALL
        SELECT r.layer, r.probe_country, r.resolver_name, r.domain, r.verdict, r.site_layer,
            r.method, r.party, r.operator, r.measurements
        FROM layers_sites_daily AS r
        WHERE """ + _PLACE + """
          AND r.day BETWEEN {since:Date} AND {until:Date}
          AND (r.day < """ + _WHOLE_FROM + """ OR r.day >= """ + _WHOLE_BEFORE + """))"""

_ORDER_DOMAINS = """od AS (
    SELECT DISTINCT order_id, site, domain, kind FROM order_domains FINAL
    WHERE ({order:String} = '' OR order_id = {order:String})
      AND ({site:String} = '' OR site = {site:String}))"""

_ORDERS = """o AS (
    SELECT order_id, deadline, countries, intermediaries FROM orders FINAL
    WHERE ({order:String} = '' OR order_id = {order:String}))"""

# Per group: counts, and how it was blocked - the (layer, method, party,
# operator) with the most blocked measurements (ties: the later one, so the
# answer is deterministic). Sums per way of blocking first (the rollup's own
# columns, cheap to group by), the tuple only for the few blocked ones after.
# `{measures}`: extra sums; reports name them in `{outer}`.
_WITH_HOW = """SELECT {keys},
    sum(n_blocked) AS blocked, sum(n_total) AS total, sum(n_filtered) AS filtered,
    sum(n_inconclusive) AS inconclusive, {outer}
    (arrayReverseSort(groupArrayIf((n_blocked, toString(site_layer), toString(method),
                                    toString(party), toString(operator)),
                                   n_blocked > 0))[1] AS how).2 AS how_layer,
    how.3 AS how_method, how.4 AS how_party, how.5 AS how_operator
FROM (
    SELECT {inner_keys}, r.site_layer AS site_layer, r.method AS method, r.party AS party,
        r.operator AS operator,
        sumIf(r.measurements, r.verdict = 'blocked') AS n_blocked,
        sumIf(r.measurements, r.verdict IN """ + CONCLUSIVE + """) AS n_total,
        sumIf(r.measurements, r.verdict = 'filtered') AS n_filtered,
        sumIf(r.measurements, r.verdict IN ('error', 'unknown')) AS n_inconclusive{measures}
    FROM {table} AS r
    {joins}
    WHERE {where}
    GROUP BY {keys}, site_layer, method, party, operator)
GROUP BY {keys}
{having}
ORDER BY {keys}"""

# the columns every layered report ends with, after its keys and counts
HOW = "how_layer, how_method, how_party, how_operator"

# The same over a coarse rollup (`{sites}`), summed per domain before the order
# tables are joined: the join and the per-site grouping then see one row per
# (country, resolver, domain, way of blocking). What effectiveness ran over the
# daily rollup before 0014, kept as EFFECTIVENESS_DAILY. `{pre_keys}`: more
# rollup columns to keep.
_COARSE_HOW = """SELECT {keys},
    sum(n_blocked) AS blocked, sum(n_total) AS total, sum(n_filtered) AS filtered,
    sum(n_inconclusive) AS inconclusive,
    (arrayReverseSort(groupArrayIf((n_blocked, toString(site_layer), toString(method),
                                    toString(party), toString(operator)),
                                   n_blocked > 0))[1] AS how).2 AS how_layer,
    how.3 AS how_method, how.4 AS how_party, how.5 AS how_operator
FROM (
    SELECT {inner_keys}, r.site_layer AS site_layer, r.method AS method, r.party AS party,
        r.operator AS operator, sum(r.b) AS n_blocked, sum(r.t) AS n_total,
        sum(r.f) AS n_filtered, sum(r.i) AS n_inconclusive
    FROM (
        SELECT r.probe_country AS country, r.resolver_name AS resolver, {pre_keys}
            r.domain AS domain, r.site_layer AS site_layer, r.method AS method,
            r.party AS party, r.operator AS operator,
            sumIf(r.measurements, r.verdict = 'blocked') AS b,
            sumIf(r.measurements, r.verdict IN """ + CONCLUSIVE + """) AS t,
            sumIf(r.measurements, r.verdict = 'filtered') AS f,
            sumIf(r.measurements, r.verdict IN ('error', 'unknown')) AS i
        FROM {sites} AS r
        WHERE r.domain IN (SELECT domain FROM od)
        GROUP BY country, resolver, {pre_keys} domain, site_layer, method, party, operator
        ) AS r
    {joins}
    WHERE {where}
    GROUP BY {keys}, site_layer, method, party, operator)
GROUP BY {keys}
{having}
ORDER BY {keys}"""

_DOMAIN_KEY = "if({by_domain:UInt8} = 1, od.domain, '') AS domain"
_ASN_KEY = "if({by_asn:UInt8} = 1, r.probe_asn, 0) AS asn"
_FINE = {"table": "layers_daily", "where": _LAYER_FILTERS, "asn": _ASN_KEY}
_COARSE = {"table": _SITES_SPAN, "where": "1", "asn": "toUInt32(0) AS asn"}


def _effectiveness(t: dict[str, str]) -> str:
    return "WITH " + _ORDER_DOMAINS + "\n" + _WITH_HOW.format(
        keys="country, asn, resolver, site, domain", outer="", measures="", table=t["table"],
        inner_keys="r.probe_country AS country, " + t["asn"] + ", "
                   "r.resolver_name AS resolver, od.site AS site, " + _DOMAIN_KEY,
        joins="INNER JOIN (SELECT DISTINCT site, domain FROM od) AS od ON od.domain = r.domain",
        where=t["where"], having="")


def _spillover(t: dict[str, str]) -> str:
    return "WITH " + _ORDER_DOMAINS + ",\n" + _ORDERS + "\n" + _WITH_HOW.format(
        keys="order_id, country, asn, resolver, site, domain", outer="", measures="",
        table=t["table"],
        inner_keys="o.order_id AS order_id, r.probe_country AS country, " + t["asn"] + ", "
                   "r.resolver_name AS resolver, od.site AS site, " + _DOMAIN_KEY,
        joins="INNER JOIN od ON od.domain = r.domain INNER JOIN o ON o.order_id = od.order_id",
        where=t["where"] + "\n      AND r.domain IN (SELECT domain FROM od)"
        "\n      AND NOT has(o.countries, r.probe_country)",
        having="HAVING blocked > 0")




def _coarse_effectiveness(sites: str) -> str:
    return "WITH " + _ORDER_DOMAINS + "\n" + _COARSE_HOW.format(
        keys="country, asn, resolver, site, domain", pre_keys="",
        inner_keys="r.country AS country, toUInt32(0) AS asn, r.resolver AS resolver, "
                   "od.site AS site, " + _DOMAIN_KEY,
        joins="INNER JOIN (SELECT DISTINCT site, domain FROM od) AS od ON od.domain = r.domain",
        where="1", having="", sites=sites)


# --by asn: layers_daily (it has the ASN); otherwise the coarse rollups, the
# monthly one for whole months. Over the monthly rows summing per domain
# first (_COARSE_HOW) no longer pays: at 100M the SQL takes 0.10-0.12 s
# grouping directly, 0.14-0.16 s per domain first (on daily rows it was the
# other way round: 0.09 s against 0.13-0.16 s at 30M). Timeline counts per
# day: the daily rollup alone (per domain first it took 0.4 s, not 0.05 s).
EFFECTIVENESS_BY_ASN = _effectiveness(_FINE)
SPILLOVER_BY_ASN = _spillover(_FINE)
EFFECTIVENESS = _effectiveness(_COARSE)
SPILLOVER = _spillover(_COARSE)

# The same two from the daily rollup alone, exactly as before 0014: what the
# monthly one must not change (tests/integration/test_monthly_rollup.py) and
# the benchmark's comparison (bench/reports.py); no report runs them.
_SITES_DAILY = "(SELECT * FROM layers_sites_daily AS r WHERE " + _SITES_FILTERS + ")"
EFFECTIVENESS_DAILY = _coarse_effectiveness(_SITES_DAILY)
SPILLOVER_DAILY = _spillover({"table": _SITES_DAILY, "where": "1", "asn": "toUInt32(0) AS asn"})

# Each domain is due from its own date: the day it joined the order (`added`;
# the issue date for the domains the order named) plus the order's grace, the
# days it gave from issue to deadline. So a mirror added later is not counted
# from the order's deadline, and a domain the order named is due on the deadline.
_DUE = """od AS (
    SELECT d.order_id AS order_id, d.site AS site, d.domain AS domain,
        toString(d.kind) AS kind, d.added AS added,
        greatest(o.deadline, addDays(d.added, dateDiff('day', o.issued, o.deadline))) AS due
    FROM order_domains AS d FINAL
    INNER JOIN (SELECT order_id, issued, deadline FROM orders FINAL) AS o
        ON o.order_id = d.order_id
    WHERE ({order:String} = '' OR d.order_id = {order:String})
      AND ({site:String} = '' OR d.site = {site:String}))"""

# The paths (resolver x transport x address family) in the order's countries
# that still reached an ordered site after it was due (verdict ok at the
# layer), with how the same path was blocked the rest of the time.
# The order's intermediaries' resolvers: plain names, and every resolver of a
# group (`cloudflare: [cloudflare, cloudflare-dot, cloudflare-doh]`, 0009).
_ORDER_RESOLVERS = """o AS (
    SELECT o.order_id AS order_id, o.countries AS countries,
        arrayDistinct(arrayConcat(o.intermediaries, g.resolvers)) AS resolvers
    FROM orders AS o FINAL
    LEFT JOIN (SELECT order_id, arrayFlatten(groupArray(resolvers)) AS resolvers
               FROM order_intermediaries FINAL GROUP BY order_id) AS g
        ON g.order_id = o.order_id
    WHERE ({order:String} = '' OR o.order_id = {order:String}))"""

# The joins below keep only the order's domains in its countries; saying so
# on the rollup's own columns first lets the engine skip the granules of every
# other country and domain before joining (its key starts layer, country,
# resolver, domain): at a 100M rollup leakage read every row of its layer.
_IN_ORDER = """
      AND r.probe_country IN (SELECT arrayJoin(countries) FROM o)
      AND r.domain IN (SELECT domain FROM od)"""

LEAKAGE = "WITH " + _DUE + ",\n" + _ORDER_RESOLVERS + "\n" + _WITH_HOW.format(
    keys="order_id, country, asn, resolver, transport, family, intermediary, site, domain, "
         "kind, due",
    outer="sum(n_reached) AS reached, max(last_reached) AS last_reached,",
    measures=""",
        sumIf(r.measurements, r.verdict = 'ok') AS n_reached,
        maxIf(r.last_at, r.verdict = 'ok') AS last_reached""",
    inner_keys="o.order_id AS order_id, r.probe_country AS country, " + _ASN_KEY + ", "
               "r.resolver_name AS resolver, toString(r.transport) AS transport, "
               "r.family AS family, has(o.resolvers, r.resolver_name) AS intermediary, "
               "od.site AS site, " + _DOMAIN_KEY + ", "
               "if({by_domain:UInt8} = 1, od.kind, '') AS kind, "
               "if({by_domain:UInt8} = 1, od.due, toDate(0)) AS due",
    joins="INNER JOIN od ON od.domain = r.domain INNER JOIN o ON o.order_id = od.order_id",
    where=_LAYER_FILTERS + _IN_ORDER
    + "\n      AND has(o.countries, r.probe_country) AND r.day >= od.due",
    having="HAVING reached > 0", table="layers_daily")

TIMELINE = "WITH " + _ORDER_DOMAINS + "\n" + _WITH_HOW.format(
    keys="day, resolver", outer="", measures="",
    inner_keys="r.day AS day, r.resolver_name AS resolver",
    joins="INNER JOIN (SELECT DISTINCT domain FROM od) AS od ON od.domain = r.domain",
    where=_SITES_FILTERS, having="", table="layers_sites_daily")

# Per probe, from the stored rows themselves (the rollup has no probe names).
PROBES = """WITH
seen AS (
    SELECT probe_name, argMax(probe_country, received_at) AS country,
        argMax(probe_asn, received_at) AS asn, argMax(probe_control, received_at) AS control,
        max(received_at) AS last_seen, count() AS measurements,
        countIf(failure != """ + _NO_FAILURE + """) AS failures
    FROM measurements FINAL
    WHERE toDate(started_at) BETWEEN {since:Date} AND {until:Date}
      AND ({country:String} = '' OR probe_country = {country:String})
      AND ({resolver:String} = '' OR resolver_name = {resolver:String})
    GROUP BY probe_name),
judged AS (
    SELECT probe_name, countIf(verdict = 'error') AS errors,
        countIf(verdict = 'blocked' AND purpose = """ + _TARGET + """) AS blocked,
        countIf(verdict = 'blocked' AND purpose = """ + _CONTROL + """) AS blocked_controls
    FROM verdicts FINAL
    WHERE toDate(started_at) BETWEEN {since:Date} AND {until:Date}
      AND ({country:String} = '' OR probe_country = {country:String})
      AND ({resolver:String} = '' OR resolver_name = {resolver:String})
    GROUP BY probe_name)
SELECT s.probe_name, s.country, s.asn, s.control, s.last_seen, s.measurements, s.failures,
    j.errors, j.blocked, j.blocked_controls
FROM seen AS s LEFT JOIN judged AS j ON j.probe_name = s.probe_name
ORDER BY s.probe_name
SETTINGS join_use_nulls = 1"""

# What the database knows, to name an unknown filter value and suggest the
# known ones (reports must not answer an empty table for a typo).
KNOWN_ORDERS = "SELECT DISTINCT order_id FROM orders FINAL ORDER BY order_id"
KNOWN_SITES = """SELECT DISTINCT site FROM order_domains FINAL
WHERE {order:String} = '' OR order_id = {order:String} ORDER BY site"""
KNOWN_COUNTRIES = """SELECT DISTINCT c FROM (
    SELECT DISTINCT probe_country AS c FROM verdicts_daily
    UNION ALL SELECT DISTINCT probe_country AS c FROM measurements) ORDER BY c"""
KNOWN_RESOLVERS = """SELECT DISTINCT r FROM (
    SELECT DISTINCT resolver_name AS r FROM verdicts_daily
    UNION ALL SELECT DISTINCT resolver_name AS r FROM measurements) ORDER BY r"""

# Measurements that await classification: received after the newest received_at
# the classifier has covered (its watermarks, analysis/storage.py and sitesql.py),
# and since when. The layered reports count site verdicts, which come after the
# DNS verdicts (they wait for the web follow-ups): the older watermark decides.
STATUS = """SELECT
    (SELECT count() FROM measurements) AS stored,
    (SELECT count() FROM verdicts) AS classified,
    p.n AS pending, p.oldest AS pending_since
FROM (SELECT count() AS n, minOrNull(received_at) AS oldest FROM measurements
      WHERE received_at > least((SELECT max(received_at) FROM verdicts),
                                (SELECT max(received_at) FROM site_verdicts))) AS p"""
