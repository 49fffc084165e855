"""The classification rules as one ClickHouse query: what production runs.

`dnsverdicts.py` states the rules as pure Python functions over one observation;
it stays their readable statement and the test oracle
(tests/integration/test_rules_sql.py checks that both agree, rule by rule, on
generated observations and on the hand-built world). Here the same rules run
inside the engine, vectorized and on every core, as
`INSERT INTO verdicts SELECT ...` over a range of measurements: no row crosses
into Python (docs/design-notes.md, "Verdicts at ingest speed", has the
figures: ~12k measurements/s one Python object at a time).

No FINAL: it would merge the whole table's keys on every chunk. A
measurement stored twice is judged once (the latest copy, unless it has a
verdict already), and a control stored twice is the same control twice, which
changes no nearest one and no set of addresses.

The control context is computed in the same query. Control resolutions (from
unfiltered vantages, per name and type) and health checks (control domains,
per probe, resolver and transport) near the chunk's time span are gathered
by ASOF joins (the nearest before, and at or after, each measurement), of
which the rule takes the nearer within the window exactly as
`controls.ControlIndex` does (the earlier wins a tie; a measurement is never
its own reference). Whether control vantages got the same addresses (or
prefixes) within the window is the same kind of lookup, per address.

Fingerprints and resolver behaviours are data: they travel as query
parameters, and the behaviours' criteria (integers only) become a `multiIf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from blockwatch.analysis.bogons import _RANGES, is_bogon
from blockwatch.analysis.dnsverdicts import DROP_FAILURES, EDE_BLOCKED, EDE_FILTERED
from blockwatch.analysis.fingerprints import Behaviour, FingerprintSet
from blockwatch.analysis.observation import (
    ADDRESS_TYPES,
    FLAG_RA,
    RCODE_NOERROR,
    RCODE_NXDOMAIN,
    RCODE_REFUSED,
    RCODE_SERVFAIL,
    TYPE_CNAME,
    Health,
    Outcome,
    StrayReason,
)
from blockwatch.analysis.verdict import Method, Rule, Status
from blockwatch.contract.vocabulary import Purpose, Transport

_RA_BIT = FLAG_RA.bit_length() - 1


def _ints(values: Any) -> str:
    return ", ".join(str(int(v)) for v in sorted(values))


def _strs(values: Any) -> str:
    # Only our own enum values reach here (no quotes in them).
    return ", ".join(f"'{v}'" for v in values)


# The words the rules compare with, as SQL literals: from their enums, never
# spelled here (the stored Enum8 columns use the same words).
_IDENTITY = f"'{Purpose.IDENTITY.label}'"
_UDP = f"'{Transport.UDP.label}'"
_ANSWERS, _FAILS, _UNKNOWN = (f"'{h.value}'" for h in (Health.ANSWERS, Health.FAILS,
                                                      Health.UNKNOWN))
_ANSWERED = f"'{Outcome.ANSWERED.value}'"


@dataclass(frozen=True, slots=True)
class _FingerprintParams:
    """FingerprintSet as arrays: a pattern maps to a group of fingerprint
    indexes in file order (`transform` is a hash lookup on constant arrays)."""

    patterns: list[str]
    groups: list[list[int]]          # per pattern, then one empty group for "none"
    names: list[str]
    countries: list[list[str]]
    methods: list[str]               # bogon | sinkhole, per fingerprint
    fallback: list[int]              # may name a stop page out of its countries

    @classmethod
    def of(cls, fps: FingerprintSet) -> _FingerprintParams:
        patterns: list[str] = []
        groups: list[list[int]] = []
        where: dict[str, int] = {}
        for i, fp in enumerate(fps.fingerprints, start=1):
            if fp.pattern not in where:
                where[fp.pattern] = len(patterns)
                patterns.append(fp.pattern)
                groups.append([])
            groups[where[fp.pattern]].append(i)
        groups.append([])
        return cls(
            patterns, groups, [fp.name for fp in fps.fingerprints],
            [list(fp.countries) for fp in fps.fingerprints],
            [Method.BOGON.value if fp.kind == "address" and is_bogon(fp.pattern)
             else Method.SINKHOLE.value for fp in fps.fingerprints],
            [int(not is_bogon(fp.pattern) and fp.kind == "address")
             for fp in fps.fingerprints])

    def parameters(self) -> dict[str, Any]:
        return {"fp_patterns": self.patterns, "fp_groups": self.groups,
                "fp_group_ids": list(range(1, len(self.patterns) + 1)),
                "fp_none": len(self.patterns) + 1, "fp_names": self.names,
                "fp_countries": self.countries, "fp_methods": self.methods,
                "fp_fallback": self.fallback}


def _behaviour_match(b: Behaviour) -> str:
    """`Behaviour.matches` for one behaviour, as SQL over the row's aliases."""
    terms = ["rcode IS NOT NULL"]
    if b.rcode is not None:
        terms.append(f"rcode = {int(b.rcode)}")
    if b.ra is not None:
        terms.append(f"bitTest(flags, {_RA_BIT}) = {int(b.ra)}")
    if b.authority is not None:
        terms.append(f"authority_count = {int(b.authority)}")
    if b.ede_codes:
        terms.append(f"hasAny(ede_seen, [{_ints(b.ede_codes)}])")
    if b.answers:
        # Only address strings (no quotes) are in the packaged data; keep it safe anyway.
        listed = ", ".join("'" + a.replace("\\", "\\\\").replace("'", "\\'") + "'"
                           for a in sorted(b.answers))
        terms.append(f"(notEmpty(addrs) AND hasAll([{listed}], addrs))")
    return " AND ".join(terms)


def _behaviour_index(fps: FingerprintSet) -> str:
    if not fps.behaviours:
        return "toUInt16(0)"
    arms = ", ".join(f"{_behaviour_match(b)}, {i}"
                     for i, b in enumerate(fps.behaviours, start=1))
    return f"toUInt16(multiIf({arms}, 0))"


def _is_bogon(a: str) -> str:
    ranges = _strs(str(n) for n in _RANGES)
    return (f"((isIPv4String({a}) OR isIPv6String({a})) AND arrayExists(net -> "
            f"isIPAddressInRange(if(isIPv4String({a}) OR isIPv6String({a}), {a}, '::'), net), "
            f"[{ranges}]))")


def _prefix(a: str) -> str:
    """bogons.prefix: the /24 or /48 as text; anything else stays itself."""
    return (f"multiIf(isIPv4String({a}), concat(IPv4NumToString(IPv4CIDRToRange("
            f"toIPv4OrDefault({a}), 24).1), '/24'), isIPv6String({a}), concat(IPv6NumToString("
            f"IPv6CIDRToRange(toIPv6OrDefault({a}), 48).1), '/48'), {a})")


_OUTCOME = (f"multiIf(rcode IS NULL, '{Outcome.FAILED.value}', rcode = {RCODE_NOERROR}, "
            f"if(notEmpty(`answers.type`), {_ANSWERED}, '{Outcome.NODATA.value}'), "
            f"rcode = {RCODE_NXDOMAIN}, '{Outcome.NXDOMAIN.value}', "
            f"rcode = {RCODE_SERVFAIL}, '{Outcome.SERVFAIL.value}', "
            f"rcode = {RCODE_REFUSED}, '{Outcome.REFUSED.value}', "
            f"'{Outcome.OTHER_RCODE.value}')")
_ADDRS = f"arrayFilter((d, t) -> t IN ({_ints(ADDRESS_TYPES)}), `answers.data`, `answers.type`)"
_WORKING = _strs((Outcome.ANSWERED.value, Outcome.NODATA.value, Outcome.NXDOMAIN.value))

# What a verdict's columns are made of, after the rule is chosen.
VERDICT_COLUMNS = (
    "measurement_id", "started_at", "received_at", "probe_name", "probe_country",
    "probe_asn", "probe_control", "domain", "qtype", "purpose", "resolver_name", "transport",
    "failure", "verdict", "method", "rule", "rcode", "ede_code", "ede_text", "fingerprint",
    "answer", "control_outcome", "control_answer", "control_measurement_id",
    "resolver_health", "classifier_version", "classified_at")


def _rule() -> str:
    R = Rule
    drop = _strs(sorted(DROP_FAILURES))

    def differential(method: Method, same: Outcome) -> str:
        # classify._differential
        consistent = (f"ref_outcome = '{same.value}', '{R.CONSISTENT.value}', "
                      if same in (Outcome.NXDOMAIN, Outcome.NODATA) else "")
        resolves = (f"if(health != {_ANSWERS}, '{R.NO_HEALTH.value}', "
                    f"'{R.CONTROL_RESOLVES.value}')" if method in (Method.DROP, Method.SERVFAIL)
                    else f"'{R.CONTROL_RESOLVES.value}'")
        return (f"multiIf(health = {_FAILS}, '{R.RESOLVER_FAILS.value}', probe_control, "
                f"'{R.CONTROL_VANTAGE.value}', ref_idx = 0, '{R.NO_CONTROL.value}', "
                f"ref_outcome = {_ANSWERED}, {resolves}, "
                f"{consistent}'{R.CONTROL_FAILED.value}')")

    answers = (  # classify._answers
        f"multiIf(fp > 0, '{R.FINGERPRINT.value}', "
        f"has_bogon, if(ctl_any AND all_in, "
        f"'{R.MATCHES_CONTROL.value}', '{R.BOGON.value}'), "
        f"probe_control, '{R.CONTROL_VANTAGE.value}', "
        f"ctl_any AND notEmpty(addrs) AND NOT pfx_overlap, '{R.ANSWERS_DIFFER.value}', "
        f"'{R.ANSWERED.value}')")
    no_response = (  # classify._no_response and _strays
        f"multiIf(failure IN ({drop}) AND stray_count > 0, "
        f"if(has(stray_reason, '{StrayReason.WRONG_ID.value}') AND health = {_ANSWERS}, "
        f"'{R.STRAY_FORGED.value}', '{R.STRAY_REPLIES.value}'), "
        f"failure IN ({drop}), {differential(Method.DROP, Outcome.FAILED)}, "
        f"health = {_FAILS}, '{R.RESOLVER_FAILS.value}', '{R.TRANSPORT_FAILURE.value}')")
    refused = (f"multiIf(health = {_ANSWERS}, '{R.REFUSED_ANSWERS_CONTROL.value}', "
               f"health = {_FAILS}, '{R.RESOLVER_FAILS.value}', '{R.NO_HEALTH.value}')")
    return f"""multiIf(
        purpose = {_IDENTITY}, '{R.IDENTITY.value}',
        transport = {_UDP} AND (answer_set_count > 1 OR (response_count > 1 AND differ)),
            '{R.INJECTED.value}',
        ede_b > 0, '{R.EDE_BLOCKED.value}',
        ede_f > 0, '{R.EDE_FILTERED.value}',
        rcode IS NULL, {no_response},
        rcode = {RCODE_NOERROR} AND notEmpty(`answers.type`), {answers},
        rcode = {RCODE_NXDOMAIN}, if(beh > 0 AND {{beh_methods:Array(String)}}[beh] =
            '{Method.NXDOMAIN.value}', '{R.QUAD9_NXDOMAIN.value}',
            {differential(Method.NXDOMAIN, Outcome.NXDOMAIN)}),
        rcode = {RCODE_NOERROR}, {differential(Method.NODATA, Outcome.NODATA)},
        rcode = {RCODE_SERVFAIL}, {differential(Method.SERVFAIL, Outcome.SERVFAIL)},
        rcode = {RCODE_REFUSED}, {refused},
        '{R.RCODE_ERROR.value}')"""


def _status() -> str:
    R, S = Rule, Status
    by_rule = {
        R.IDENTITY: S.UNKNOWN, R.INJECTED: S.BLOCKED, R.STRAY_FORGED: S.BLOCKED,
        R.STRAY_REPLIES: S.SUSPECT, R.EDE_BLOCKED: S.BLOCKED, R.EDE_FILTERED: S.FILTERED,
        R.FINGERPRINT: S.BLOCKED, R.BOGON: S.BLOCKED, R.MATCHES_CONTROL: S.OK,
        R.ANSWERS_DIFFER: S.SUSPECT, R.ANSWERED: S.OK, R.QUAD9_NXDOMAIN: S.BLOCKED,
        R.CONTROL_RESOLVES: S.BLOCKED, R.CONSISTENT: S.OK, R.CONTROL_FAILED: S.UNKNOWN,
        R.NO_CONTROL: S.UNKNOWN, R.RESOLVER_FAILS: S.ERROR,
        R.REFUSED_ANSWERS_CONTROL: S.BLOCKED, R.RCODE_ERROR: S.ERROR,
        R.TRANSPORT_FAILURE: S.ERROR}
    arms = ", ".join(f"rule = '{r.value}', '{s.value}'" for r, s in by_rule.items())
    # Two rules end in two statuses: a control vantage's own empty answer is
    # fine but its failure an error; health unknown is suspect for a silent
    # or failing resolver, unknown for a REFUSED.
    return (f"multiIf({arms}, rule = '{R.CONTROL_VANTAGE.value}', "
            f"if(ifNull(rcode, 999) IN ({RCODE_NOERROR}, {RCODE_NXDOMAIN}), '{S.OK.value}', "
            f"'{S.ERROR.value}'), rule = '{R.NO_HEALTH.value}', "
            f"if(ifNull(rcode, 999) = {RCODE_REFUSED}, '{S.UNKNOWN.value}', '{S.SUSPECT.value}'), "
            f"'{S.UNKNOWN.value}')")


def _method() -> str:
    R, M = Rule, Method
    fixed = {R.INJECTED: M.INJECTED, R.STRAY_FORGED: M.INJECTED, R.EDE_BLOCKED: M.EDE,
             R.EDE_FILTERED: M.EDE, R.BOGON: M.BOGON, R.QUAD9_NXDOMAIN: M.NXDOMAIN,
             R.REFUSED_ANSWERS_CONTROL: M.REFUSED}
    arms = ", ".join(f"rule = '{r.value}', '{m.value}'" for r, m in fixed.items())
    by_rcode = (f"multiIf(rcode IS NULL, '{M.DROP.value}', rcode = {RCODE_NXDOMAIN}, "
                f"'{M.NXDOMAIN.value}', rcode = {RCODE_NOERROR}, '{M.NODATA.value}', "
                f"'{M.SERVFAIL.value}')")
    return (f"multiIf({arms}, rule = '{R.FINGERPRINT.value}', {{fp_methods:Array(String)}}[fp], "
            f"rule = '{R.CONTROL_RESOLVES.value}', {by_rcode}, '')")


def _fingerprint_column() -> str:
    R = Rule
    named = _strs(r.value for r in (R.EDE_BLOCKED, R.EDE_FILTERED, R.BOGON, R.QUAD9_NXDOMAIN,
                                    R.REFUSED_ANSWERS_CONTROL))
    return (f"multiIf(rule = '{R.FINGERPRINT.value}', {{fp_names:Array(String)}}[fp], "
            f"rule IN ({named}) OR (rule = '{R.NO_HEALTH.value}' "
            f"AND ifNull(rcode, 999) = {RCODE_REFUSED}), "
            "beh_name, '')")


def _answer_column() -> str:
    R = Rule
    plain = _strs(r.value for r in (R.EDE_BLOCKED, R.EDE_FILTERED, R.MATCHES_CONTROL, R.BOGON,
                                    R.ANSWERS_DIFFER))
    return (f"multiIf(rule = '{R.INJECTED.value}', arrayConcat(addrs, arrayFlatten(later_d)), "
            f"rule IN ({plain}) OR (rule = '{R.CONTROL_VANTAGE.value}' AND ifNull(rcode, 999) = "
            f"{RCODE_NOERROR} AND notEmpty(`answers.type`)), addrs, "
            f"rule IN ({_strs((R.FINGERPRINT.value, R.ANSWERED.value))}), "
            "if(notEmpty(addrs), addrs, cnames), [])")


# Read more than once by the query below: computed once where the engine can
# (materialize.py).
MATERIALIZED_CTES = ("targets", "points", "checks", "cpoints", "npoints")


def classify_sql(fps: FingerprintSet, version: str) -> tuple[str, dict[str, Any]]:
    """The INSERT ... SELECT for measurements matching `{where}` (formatted in
    by the caller, with its parameters), with `{lo:Int64}`, `{hi:Int64}` the
    span whose controls are read and `{window:Int64}` the control window (µs).
    Each measurement id gets one verdict: the latest stored copy, unless a
    verdict for it exists already (a replay stored under a new batch id)."""
    params = _FingerprintParams.of(fps).parameters()
    params["beh_names"] = [b.name for b in fps.behaviours]
    params["beh_methods"] = [b.method.value for b in fps.behaviours]
    params["version"] = version
    columns = ", ".join(VERDICT_COLUMNS)
    in_scope = "(empty({fp_countries:Array(Array(String))}[i]) OR " \
        "has({fp_countries:Array(Array(String))}[i], probe_country))"
    group = ("{fp_groups:Array(Array(UInt32))}[transform(v, {fp_patterns:Array(String)}, "
             "{fp_group_ids:Array(UInt32)}, {fp_none:UInt32})]")
    span = ("started_at BETWEEN fromUnixTimestamp64Micro({lo:Int64}, 'UTC') "
            "AND fromUnixTimestamp64Micro({hi:Int64}, 'UTC')")
    sql = f"""INSERT INTO verdicts ({columns})
WITH
targets AS (
    SELECT * FROM (
        SELECT measurement_id, started_at, received_at, probe_name, probe_country, probe_asn,
            probe_control, domain, qtype, purpose, resolver_name, transport, failure, rcode,
            flags, `answers.type`, `answers.data`, cname_chain, authority_count, ede_codes,
            ede_texts, response_count, later_rcode, later_answer_data, parse_error,
            answer_set_count, stray_count, stray_reason,
            toUnixTimestamp64Micro(started_at) AS at
        FROM measurements
        WHERE {{where}}
        ORDER BY received_at DESC
        LIMIT 1 BY measurement_id)
    WHERE measurement_id NOT IN (
        SELECT measurement_id FROM verdicts WHERE {{already}})),
-- Control vantages' resolutions of the targets' names, and every health
-- check (a control domain) of the targets' (probe, resolver, transport): the
-- control tables (migration 0016), keyed for these lookups; `measurements`
-- would be read whole over the window to find them.
points AS (
    SELECT domain AS p_domain, qtype AS p_qtype, toUnixTimestamp64Micro(started_at) AS p_t,
        measurement_id AS p_id, {_OUTCOME} AS p_out, {_ADDRS} AS p_addrs,
        toUInt8(1) AS p_found
    FROM control_resolutions
    WHERE {span} AND (domain, qtype) IN (SELECT domain, qtype FROM targets)),
checks AS (
    SELECT probe_name AS c_probe, resolver_name AS c_resolver, transport AS c_transport,
        toUnixTimestamp64Micro(started_at) AS c_t, {_OUTCOME} IN ({_WORKING}) AS c_ok,
        toUInt8(1) AS c_found
    FROM health_checks
    WHERE {span} AND (probe_name, resolver_name, transport) IN
          (SELECT probe_name, resolver_name, transport FROM targets)),
-- What the control vantages got within the window, as existence checks (a
-- CDN answers differently per vantage: one control with the same address, or
-- the same /24 or /48, is enough). One row per (control, address) and per
-- (measurement, own address); for each, the nearest control before and after
-- it (ASOF) and any other at the very same instant: never the row itself.
cpoints AS (
    SELECT p_domain AS k_domain, p_qtype AS k_qtype, p_t AS k_t, p_id AS k_id,
        arrayJoin(arrayDistinct(p_addrs)) AS k_addr,
        cityHash64({_prefix('k_addr')}) AS k_pfx, toUInt8(1) AS k_found
    FROM points
    WHERE notEmpty(p_addrs)),
mine AS (
    SELECT measurement_id AS m_id, domain AS m_domain, qtype AS m_qtype, at AS m_at,
        arrayJoin(arrayDistinct({_ADDRS})) AS m_addr, cityHash64({_prefix('m_addr')}) AS m_pfx
    FROM targets
    WHERE rcode = {RCODE_NOERROR} AND notEmpty(`answers.type`)),
seen AS (
    SELECT m.m_id AS s_id,
        min((ab.k_found = 1 AND m.m_at - ab.k_t <= {{window:Int64}})
            OR (aa.k_found = 1 AND aa.k_t - m.m_at <= {{window:Int64}})
            OR arrayExists(i -> i != m.m_id, ai.ids)) AS all_in,
        max((pb.k_found = 1 AND m.m_at - pb.k_t <= {{window:Int64}})
            OR (pa.k_found = 1 AND pa.k_t - m.m_at <= {{window:Int64}})
            OR arrayExists(i -> i != m.m_id, pi.ids)) AS pfx_overlap
    FROM mine AS m
    ASOF LEFT JOIN cpoints AS ab ON ab.k_domain = m.m_domain AND ab.k_qtype = m.m_qtype
        AND ab.k_addr = m.m_addr AND m.m_at > ab.k_t
    ASOF LEFT JOIN cpoints AS aa ON aa.k_domain = m.m_domain AND aa.k_qtype = m.m_qtype
        AND aa.k_addr = m.m_addr AND m.m_at < aa.k_t
    LEFT JOIN (SELECT k_domain, k_qtype, k_addr, k_t, groupArray(k_id) AS ids FROM cpoints
               GROUP BY k_domain, k_qtype, k_addr, k_t) AS ai
        ON ai.k_domain = m.m_domain AND ai.k_qtype = m.m_qtype AND ai.k_addr = m.m_addr
        AND ai.k_t = m.m_at
    ASOF LEFT JOIN cpoints AS pb ON pb.k_domain = m.m_domain AND pb.k_qtype = m.m_qtype
        AND pb.k_pfx = m.m_pfx AND m.m_at > pb.k_t
    ASOF LEFT JOIN cpoints AS pa ON pa.k_domain = m.m_domain AND pa.k_qtype = m.m_qtype
        AND pa.k_pfx = m.m_pfx AND m.m_at < pa.k_t
    LEFT JOIN (SELECT k_domain, k_qtype, k_pfx, k_t, groupArray(k_id) AS ids FROM cpoints
               GROUP BY k_domain, k_qtype, k_pfx, k_t) AS pi
        ON pi.k_domain = m.m_domain AND pi.k_qtype = m.m_qtype AND pi.k_pfx = m.m_pfx
        AND pi.k_t = m.m_at
    GROUP BY m.m_id),
-- Controls with addresses at all (is there anything to compare with?).
npoints AS (
    SELECT p_domain AS n_domain, p_qtype AS n_qtype, p_t AS n_t, p_id AS n_id,
        toUInt8(1) AS n_found
    FROM points WHERE notEmpty(p_addrs)),
-- Layers, so that each heavy expression is computed once as a column (an
-- alias is an expression, inlined wherever it is used). The nearest control
-- and health check before and at-or-after each measurement: ASOF joins.
base AS (
    SELECT t.*, seen.all_in AS all_in, seen.pfx_overlap AS pfx_overlap,
        (nb.n_found = 1 AND t.at - nb.n_t <= {{window:Int64}})
            OR (na.n_found = 1 AND na.n_t - t.at <= {{window:Int64}})
            OR arrayExists(i -> i != t.measurement_id, ni.ids) AS ctl_any,
        rb.p_found AS rb_found, rb.p_t AS rb_t, rb.p_id AS rb_id, rb.p_out AS rb_out,
        rb.p_addrs AS rb_addrs,
        ra.p_found AS ra_found, ra.p_t AS ra_t, ra.p_id AS ra_id, ra.p_out AS ra_out,
        ra.p_addrs AS ra_addrs,
        cb.c_found AS cb_found, cb.c_t AS cb_t, cb.c_ok AS cb_ok,
        ca.c_found AS ca_found, ca.c_t AS ca_t, ca.c_ok AS ca_ok,
        {_ADDRS} AS addrs,
        arrayMap(n -> lowerUTF8(trimRight(n, '.')), arrayConcat(cname_chain,
            arrayFilter((d, ty) -> ty = {TYPE_CNAME}, `answers.data`, `answers.type`))) AS cnames,
        least(length(later_rcode), length(later_answer_data)) AS n_later,
        arraySlice(later_rcode, 1, n_later) AS later_r,
        arraySlice(later_answer_data, 1, n_later) AS later_d,
        arraySlice(ede_codes, 1, least(length(ede_codes), length(ede_texts))) AS ede_seen
    FROM targets AS t
    LEFT JOIN seen ON seen.s_id = t.measurement_id
    ASOF LEFT JOIN npoints AS nb
        ON nb.n_domain = t.domain AND nb.n_qtype = t.qtype AND t.at > nb.n_t
    ASOF LEFT JOIN npoints AS na
        ON na.n_domain = t.domain AND na.n_qtype = t.qtype AND t.at < na.n_t
    LEFT JOIN (SELECT n_domain, n_qtype, n_t, groupArray(n_id) AS ids FROM npoints
               GROUP BY n_domain, n_qtype, n_t) AS ni
        ON ni.n_domain = t.domain AND ni.n_qtype = t.qtype AND ni.n_t = t.at
    ASOF LEFT JOIN points AS rb
        ON rb.p_domain = t.domain AND rb.p_qtype = t.qtype AND t.at > rb.p_t
    ASOF LEFT JOIN points AS ra
        ON ra.p_domain = t.domain AND ra.p_qtype = t.qtype AND t.at <= ra.p_t
    ASOF LEFT JOIN checks AS cb
        ON cb.c_probe = t.probe_name AND cb.c_resolver = t.resolver_name
        AND cb.c_transport = t.transport AND t.at > cb.c_t
    ASOF LEFT JOIN checks AS ca
        ON ca.c_probe = t.probe_name AND ca.c_resolver = t.resolver_name
        AND ca.c_transport = t.transport AND t.at <= ca.c_t),
derived AS (
    SELECT *,
        parse_error != '' OR arrayExists((lr, ld) -> isNull(rcode) OR lr != ifNull(rcode, 0)
            OR NOT (hasAll(ld, addrs) AND hasAll(addrs, ld)), later_r, later_d) AS differ,
        toUInt32(arrayFirstIndex(c -> c IN ({_ints(EDE_BLOCKED)}), ede_seen)) AS ede_b,
        toUInt32(arrayFirstIndex(c -> c = {EDE_FILTERED}, ede_seen)) AS ede_f,
        {_behaviour_index(fps)} AS beh,
        arrayFirst(x -> x > 0, arrayMap(v -> arrayFirst(i -> {in_scope}, {group}),
            arrayConcat(addrs, cnames))) AS fp_in,
        arrayFirst(x -> x > 0, arrayMap(v -> arrayFirst(i -> NOT {in_scope}
            AND {{fp_fallback:Array(UInt8)}}[i] = 1, {group}), arrayConcat(addrs, cnames)))
            AS fp_out,
        notEmpty(arrayFilter(a -> {_is_bogon('a')}, addrs)) AS has_bogon
    FROM base),
near AS (
    SELECT *,
        -- the nearer of the two within the window; the earlier wins a tie, as
        -- bisect in controls._Timed
        rb_found = 1 AND at - rb_t <= {{window:Int64}} AS rb_ok,
        ra_found = 1 AND ra_t - at <= {{window:Int64}} AS ra_ok,
        multiIf(ra_ok AND (NOT rb_ok OR ra_t - at < at - rb_t), 2, rb_ok, 1, 0) AS ref_side,
        cb_found = 1 AND at - cb_t <= {{window:Int64}} AS cb_near,
        ca_found = 1 AND ca_t - at <= {{window:Int64}} AS ca_near,
        multiIf(ca_near AND (NOT cb_near OR ca_t - at < at - cb_t), 2, cb_near, 1, 0)
            AS check_side
    FROM derived),
ctx AS (
    SELECT *,
        -- a measurement is never its own reference
        toUInt8(ref_side > 0 AND if(ref_side = 2, ra_id, rb_id) != measurement_id) AS ref_idx,
        if(ref_idx = 1, if(ref_side = 2, ra_out, rb_out), '') AS ref_outcome,
        if(ref_idx = 1, if(ref_side = 2, ra_addrs, rb_addrs), []) AS ref_addrs,
        if(ref_idx = 1, toString(if(ref_side = 2, ra_id, rb_id)), '') AS ref_id,
        multiIf(check_side = 2, if(ca_ok, {_ANSWERS}, {_FAILS}),
                check_side = 1, if(cb_ok, {_ANSWERS}, {_FAILS}), {_UNKNOWN}) AS health,
        if(beh > 0, {{beh_names:Array(String)}}[beh], '') AS beh_name,
        if(fp_in > 0, fp_in, fp_out) AS fp
    FROM near),
judged AS (SELECT *, {_rule()} AS rule FROM ctx)
SELECT measurement_id, started_at, received_at, probe_name, probe_country, probe_asn,
    probe_control, domain, qtype, purpose, resolver_name, transport, toString(failure),
    {_status()} AS verdict, {_method()} AS method, rule, rcode,
    if(rule = '{Rule.EDE_BLOCKED.value}', ede_seen[ede_b],
       if(rule = '{Rule.EDE_FILTERED.value}', ede_seen[ede_f], NULL)) AS ede_code,
    multiIf(rule = '{Rule.EDE_BLOCKED.value}', ede_texts[ede_b],
            rule = '{Rule.EDE_FILTERED.value}', ede_texts[ede_f], '') AS ede_text,
    {_fingerprint_column()} AS fingerprint, {_answer_column()} AS answer,
    ref_outcome AS control_outcome,
    ref_addrs AS control_answer, ref_id AS control_measurement_id,
    health AS resolver_health, {{version:String}} AS classifier_version,
    now64(6, 'UTC') AS classified_at
FROM judged
SETTINGS join_use_nulls = 0"""
    return sql, params
