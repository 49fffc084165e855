"""Site verdicts as one ClickHouse query: what production runs.

One site verdict per DNS measurement (`verdicts` row): could this probe reach
the name through this resolver path in this round, and if not, at which layer
and by whose hand (migration 0008, docs/verdicts.md "Site verdict per path").
`siteverdict.site_verdict` states the rule; `oracle_site_rows` below runs it
one Python object at a time and tests/integration/test_site_verdicts.py checks
that both agree. Here it runs in the engine as `INSERT INTO site_verdicts
SELECT ...`: the DNS verdicts of a chunk joined with the web verdicts of their
follow-ups (`arrayJoin(dns_measurement_ids)`), no row through Python.

- DNS layer: the DNS verdict; a `suspect` answer (outside every control
  prefix) becomes `ok`, rule `tls_consistent_answer`, when a follow-up of its
  addresses got a certificate valid for the name (SNI = name) and none got an
  invalid one (tlsconsistency.py: CDNs, geo-DNS).
- Web layer: the follow-ups of this measurement's answer, as siteverdict
  combines them on their own (a browser tries every address: a block only when
  none got through; the earliest layer among the blocked decides, then the
  smaller observation id). Rules: the deciding follow-up's, else
  `follow_up_got_through` (ok), `follow_ups_failed` (error / unknown),
  `no_follow_up` (unknown: nothing was followed).
- Evidence strength (strength.py): a DNS `drop` (nothing came back) stays
  `blocked` only when another measurement of the same (probe, resolver, name)
  dropped too, in the same round (the other qtype, a retry) or in the round
  of that triple just before or after (its rounds ordered by their first
  measurement, within STRENGTH_SPAN_US), and none in its round was answered
  `ok`; otherwise the DNS layer is `suspect` (method `drop` kept). `verdicts`
  keeps the raw rule result.
- Site: the first layer that blocks decides (siteverdict.py); a DNS block is
  `confirmed_by` the web layers that block too.

Attribution: a DNS block is the resolver's (operator: the resolver's name); IP,
TCP and TLS are the probe's network (operator `AS<asn>`); HTTP is the edge's
when its own headers mark the response, else the network's for a block page
(interposed), else the server's (operator: the address).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from blockwatch.analysis.database import Database
from blockwatch.analysis.materialize import for_engine
from blockwatch.analysis.siteverdict import (
    LAYER_ORDER,
    WEB_LAYER,
    Layer,
    PathKey,
    SiteVerdict,
    site_verdict,
)
from blockwatch.analysis.strength import Attempt, strengthen
from blockwatch.analysis.tlsconsistency import tls_evidence
from blockwatch.analysis.verdict import Evidence, Method, Rule, Status, Verdict
from blockwatch.analysis.watermark import newest_received_us
from blockwatch.analysis.webobservation import WebObservation
from blockwatch.analysis.webverdicts import WebEvidence, WebMethod, WebRule, WebVerdict

log = logging.getLogger(__name__)

SITE_RULES_VERSION = "site.1"
SITE_CHUNK_ROWS = 200_000
# Read more than once by site_sql: computed once where the engine can
# (materialize.py).
MATERIALIZED_CTES = ("dns", "drops", "key_rounds")
TLS_CONSISTENT_RULE = "tls_consistent_answer"
NO_FOLLOW_UP_RULE = "no_follow_up"
REACHED_RULE = "follow_up_got_through"
FAILED_RULE = "follow_ups_failed"

SITE_COLUMNS = (
    "measurement_id", "started_at", "received_at", "round_id", "probe_name", "probe_country",
    "probe_asn", "probe_control", "domain", "qtype", "purpose", "resolver_name", "transport",
    "dns_verdict", "dns_method", "dns_rule", "web_verdict", "web_method", "web_rule",
    "web_observation_ids", "web_layer", "web_party", "web_operator", "verdict", "layer",
    "method", "party", "operator", "confirmed_by", "classifier_version", "classified_at")

# Follow-ups happen after their round's DNS; this far after the chunk's last
# measurement they are looked for (a round of 50,000 names takes minutes).
FOLLOW_UP_SPAN_US = 6 * 3600 * 1_000_000
# Evidence strength looks this far before and after a chunk for the rounds
# next to a DNS drop's (the lab's rounds are two weeks apart; production's
# minutes or hours): rounds farther apart are not adjacent.
STRENGTH_SPAN_US = 35 * 86400 * 1_000_000


def site_classifier_version(dns_version: str, web_version: str) -> str:
    return f"{SITE_RULES_VERSION}+{dns_version}+{web_version}"


def _layer_index() -> str:
    """LAYER_ORDER position (1-based) of a blocked follow-up's layer, by method."""
    arms = ", ".join(f"w_method = '{m.value}', {LAYER_ORDER.index(layer) + 1}"
                     for m, layer in WEB_LAYER.items())
    return f"toUInt8(multiIf({arms}, {LAYER_ORDER.index(Layer.HTTP) + 1}))"


_LAYER_NAMES = "[" + ", ".join(f"'{layer.value}'" for layer in LAYER_ORDER) + "]"


def site_sql() -> str:
    """The INSERT ... SELECT for the DNS verdicts matching `{where}` (formatted
    in by the caller), skipping those with a site verdict in `{already}`, with
    `{flo:Int64}`, `{fhi:Int64}` the started_at span (µs) where their follow-ups
    and rounds are looked for, `{hlo:Int64}`, `{hhi:Int64}` the span where the
    history of a DNS drop is (evidence strength), and `{version:String}`."""
    columns = ", ".join(SITE_COLUMNS)
    http = LAYER_ORDER.index(Layer.HTTP) + 1
    span = ("started_at BETWEEN fromUnixTimestamp64Micro({flo:Int64}, 'UTC') "
            "AND fromUnixTimestamp64Micro({fhi:Int64}, 'UTC')")
    pick = "tuple(w_method, w_rule, w_layer, w_party, w_operator)"
    hspan = ("started_at BETWEEN fromUnixTimestamp64Micro({hlo:Int64}, 'UTC') "
             "AND fromUnixTimestamp64Micro({hhi:Int64}, 'UTC')")
    drop = f"'{Status.BLOCKED.value}', '{Method.DROP.value}'"
    key = "(probe_country, probe_name, resolver_name, domain)"
    near = (f"toUnixTimestamp64Micro({{a}}.first) - toUnixTimestamp64Micro({{b}}.first) "
            f"<= {STRENGTH_SPAN_US}")
    same_key = ("{a}.k_probe = {b}.k_probe AND {a}.k_resolver = {b}.k_resolver "
                "AND {a}.k_domain = {b}.k_domain")
    return f"""INSERT INTO site_verdicts ({columns})
WITH
dns AS (
    SELECT * FROM (
        SELECT measurement_id, started_at, received_at, probe_name, probe_country, probe_asn,
            probe_control, domain, qtype, purpose, resolver_name, transport,
            toString(verdict) AS d_verdict0, method AS d_method, rule AS d_rule0
        FROM verdicts
        WHERE {{where}}
        ORDER BY classified_at DESC
        LIMIT 1 BY measurement_id)
    WHERE measurement_id NOT IN (SELECT measurement_id FROM site_verdicts WHERE {{already}})),
fu AS (
    SELECT m_id, observation_id, toString(verdict) AS w_verdict, toString(method) AS w_method,
        rule AS w_rule, toString(observation_id) AS w_key, certificate_valid, tls_handshake,
        {_layer_index()} AS w_layer,
        multiIf(w_layer != {http}, 'network', edge_operator != '', 'edge',
                w_method = 'blockpage', 'network', 'server') AS w_party,
        multiIf(w_party = 'network', concat('AS', toString(probe_asn)),
                w_party = 'edge', toString(edge_operator), address) AS w_operator
    FROM (
        SELECT arrayJoin(dns_measurement_ids) AS m_id, observation_id, verdict, method, rule,
            certificate_valid, tls_handshake, edge_operator, address, probe_asn
        FROM (SELECT * FROM web_verdicts WHERE {span}
              ORDER BY classified_at DESC LIMIT 1 BY observation_id))
    WHERE m_id IN (SELECT measurement_id FROM dns)),
web AS (
    SELECT m_id, toUInt64(count()) AS n, countIf(w_verdict = 'ok') > 0 AS reached,
        countIf(w_verdict = 'blocked') AS n_blocked, countIf(w_verdict = 'suspect') AS n_suspect,
        countIf(w_verdict = 'error') > 0 AS any_error,
        argMinIf({pick}, (w_layer, w_key), w_verdict = 'blocked') AS b,
        argMinIf({pick}, (w_layer, w_key), w_verdict = 'suspect') AS s,
        arraySort(groupUniqArrayIf(concat({_LAYER_NAMES}[w_layer], '/', w_method),
                                   w_verdict = 'blocked')) AS confirmed,
        arraySort(i -> toString(i), groupArray(observation_id)) AS ids,
        countIf(certificate_valid) > 0 AND countIf(tls_handshake AND NOT certificate_valid) = 0
            AS tls_ok
    FROM fu GROUP BY m_id),
rounds AS (
    SELECT measurement_id AS r_id, any(round_id) AS r_round FROM measurements
    WHERE {span} AND measurement_id IN (SELECT measurement_id FROM dns)
    GROUP BY measurement_id),
-- evidence strength of DNS drops: the rounds of each dropped (probe, resolver,
-- name), with how many measurements dropped and how many were ok in each
drops AS (
    SELECT DISTINCT {key} FROM dns WHERE (d_verdict0, d_method) = ({drop})),
history AS (
    SELECT v.probe_name AS k_probe, v.resolver_name AS k_resolver, v.domain AS k_domain,
        m.h_round AS h_round, v.started_at AS h_at, (v.h_verdict, v.method) = ({drop}) AS h_drop,
        v.h_verdict = 'ok' AS h_ok
    FROM (SELECT measurement_id, probe_name, resolver_name, domain, started_at, method,
                 toString(verdict) AS h_verdict
          FROM verdicts WHERE {hspan} AND {key} IN (SELECT * FROM drops)
          ORDER BY classified_at DESC LIMIT 1 BY measurement_id) AS v
    INNER JOIN (SELECT measurement_id, any(round_id) AS h_round FROM measurements
                WHERE {hspan} AND {key} IN (SELECT * FROM drops)
                GROUP BY measurement_id) AS m ON m.measurement_id = v.measurement_id),
key_rounds AS (
    SELECT *, row_number() OVER (PARTITION BY k_probe, k_resolver, k_domain
                                 ORDER BY first, h_round) AS ord
    FROM (SELECT k_probe, k_resolver, k_domain, h_round, min(h_at) AS first,
                 countIf(h_drop) AS n_drop, countIf(h_ok) AS n_ok
          FROM history GROUP BY k_probe, k_resolver, k_domain, h_round)),
strength AS (
    SELECT h.k_probe AS s_probe, h.k_resolver AS s_resolver, h.k_domain AS s_domain,
        h.h_round AS s_round,
        h.n_ok = 0 AND (h.n_drop > 1 OR (p.n_drop > 0 AND {near.format(a="h", b="p")})
                        OR (x.n_drop > 0 AND {near.format(a="x", b="h")})) AS s_corroborated
    FROM key_rounds AS h
    LEFT JOIN key_rounds AS p ON {same_key.format(a="p", b="h")} AND p.ord = h.ord - 1
    LEFT JOIN key_rounds AS x ON {same_key.format(a="x", b="h")} AND x.ord = h.ord + 1),
layered AS (
    SELECT dns.*, web.*, rounds.r_round AS r_round,
        d_verdict0 = 'suspect' AND web.n > 0 AND web.tls_ok AS upgraded,
        (d_verdict0, d_method) = ({drop}) AND NOT strength.s_corroborated AS weak,
        multiIf(upgraded, 'ok', weak, 'suspect', d_verdict0) AS d_verdict,
        if(upgraded, '{TLS_CONSISTENT_RULE}', d_rule0) AS d_rule,
        multiIf(web.n = 0, 'unknown', NOT web.reached AND web.n_blocked > 0, 'blocked',
                NOT web.reached AND web.n_suspect > 0, 'suspect', web.reached, 'ok',
                web.any_error, 'error', 'unknown') AS w_verdict,
        w_verdict IN ('blocked', 'suspect') AS w_blocks,
        if(w_verdict = 'blocked', web.b, web.s) AS w_pick
    FROM dns
    LEFT JOIN web ON web.m_id = dns.measurement_id
    LEFT JOIN rounds ON rounds.r_id = dns.measurement_id
    LEFT JOIN strength ON strength.s_probe = dns.probe_name
        AND strength.s_resolver = dns.resolver_name AND strength.s_domain = dns.domain
        AND strength.s_round = rounds.r_round),
sited AS (
    SELECT *,
        if(w_blocks, w_pick.1, '') AS web_method,
        multiIf(n = 0, '{NO_FOLLOW_UP_RULE}', w_blocks, w_pick.2, w_verdict = 'ok',
                '{REACHED_RULE}', '{FAILED_RULE}') AS web_rule,
        if(w_blocks, {_LAYER_NAMES}[w_pick.3], '') AS web_layer,
        if(w_blocks, w_pick.4, '') AS web_party,
        if(w_blocks, w_pick.5, '') AS web_operator,
        -- siteverdict.site_verdict, branch by branch
        multiIf(d_verdict IN ('blocked', 'filtered'), 1, w_blocks, 2,
                d_verdict = 'suspect' AND NOT reached, 3,
                reached OR (n = 0 AND d_verdict = 'ok'), 4, 5) AS branch
    FROM layered)
SELECT measurement_id, started_at, received_at, r_round, probe_name, probe_country, probe_asn,
    probe_control, domain, qtype, purpose, resolver_name, transport,
    d_verdict, d_method, d_rule, w_verdict, web_method, web_rule, ids, web_layer, web_party,
    web_operator,
    multiIf(branch = 1, d_verdict, branch = 2, w_verdict, branch = 3, 'suspect',
            branch = 4, 'ok', n > 0, if(any_error, 'error', 'unknown'), d_verdict) AS verdict,
    multiIf(branch IN (1, 3), 'dns', branch = 2, web_layer, '') AS layer,
    multiIf(branch IN (1, 3), d_method, branch = 2, web_method, '') AS method,
    multiIf(branch IN (1, 3), 'resolver', branch = 2, web_party, '') AS party,
    multiIf(branch IN (1, 3), toString(resolver_name), branch = 2, web_operator, '')
        AS operator,
    if(branch = 1, confirmed, []) AS confirmed_by,
    {{version:String}} AS classifier_version, now64(6, 'UTC') AS classified_at
FROM sited
SETTINGS join_use_nulls = 0"""


# -- the oracle: the same, one Python object at a time, through siteverdict --

_DNS_SELECT = """SELECT toString(measurement_id), probe_name, domain, resolver_name,
    toString(transport), toString(verdict), method, rule, answer, probe_asn,
    toUnixTimestamp64Micro(started_at)
FROM verdicts FINAL"""
# the raw DNS verdicts of a (probe, resolver, name) with their rounds
_HISTORY_SELECT = """SELECT toString(v.measurement_id), v.probe_name, v.resolver_name, v.domain,
    toString(v.verdict), v.method, m.round_id, toUnixTimestamp64Micro(v.started_at)
FROM verdicts AS v FINAL
INNER JOIN (SELECT measurement_id, any(round_id) AS round_id FROM measurements
            GROUP BY measurement_id) AS m ON m.measurement_id = v.measurement_id
WHERE v.started_at BETWEEN fromUnixTimestamp64Micro({lo:Int64}, 'UTC')
    AND fromUnixTimestamp64Micro({hi:Int64}, 'UTC')
  AND (v.probe_name, v.resolver_name, v.domain) IN {keys:Array(Tuple(String, String, String))}"""
_WEB_SELECT = """SELECT toString(observation_id), arrayMap(i -> toString(i), dns_measurement_ids),
    name, address, toString(verdict), toString(method), rule, status, fingerprint,
    edge_operator, certificate_valid, tls_handshake, probe_asn, round_id
FROM web_verdicts FINAL"""


def _site_row(mid: str, dns: Verdict, web: list[tuple[str, WebVerdict]], key: PathKey,
              asn: int) -> dict[str, Any]:
    operator = f"AS{asn}"
    web_only = site_verdict(key, None, [w for _, w in web], resolver_operator=key.resolver_name,
                            network_operator=operator)
    site: SiteVerdict = site_verdict(key, dns, [w for _, w in web],
                                     resolver_operator=key.resolver_name,
                                     network_operator=operator)
    blocks = web_only.status in (Status.BLOCKED, Status.SUSPECT)
    if blocks:
        deciding = min((w for _, w in web if w.status is web_only.status),
                       key=lambda w: LAYER_ORDER.index(
                           WEB_LAYER.get(w.method, Layer.HTTP)))
        web_rule = str(deciding.rule)
    else:
        web_rule = (NO_FOLLOW_UP_RULE if not web else REACHED_RULE
                    if web_only.status is Status.OK else FAILED_RULE)
    return {"measurement_id": mid, "dns_verdict": str(dns.status),
            "dns_method": str(dns.method), "dns_rule": str(dns.rule),
            "web_verdict": str(web_only.status), "web_method": web_only.method if blocks else "",
            "web_rule": web_rule, "web_observation_ids": sorted(i for i, _ in web),
            "web_layer": str(web_only.layer), "web_party": str(web_only.party),
            "web_operator": web_only.operator, "verdict": str(site.status),
            "layer": str(site.layer), "method": site.method, "party": str(site.party),
            "operator": site.operator, "confirmed_by": list(site.confirmed_by)}


def _oracle_strength(db: Database, drops: dict[str, tuple[str, str, str, int]]
                     ) -> dict[str, Status]:
    """strength.strengthen over each DNS drop's history: the raw verdicts of its
    (probe, resolver, name) within STRENGTH_SPAN_US, rounds numbered in the order
    of their first measurement (then round id)."""
    if not drops:
        return {}
    stamps = [at for *_, at in drops.values()]
    rows = db.rows(_HISTORY_SELECT, {
        "lo": min(stamps) - STRENGTH_SPAN_US, "hi": max(stamps) + STRENGTH_SPAN_US,
        "keys": sorted({k[:3] for k in drops.values()})})
    firsts: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for _, probe, resolver, domain, _v, _m, round_id, at in rows:
        rounds = firsts[(probe, resolver, domain)]
        rounds[round_id] = min(rounds.get(round_id, int(at)), int(at))
    history: dict[tuple[str, str, str], list[tuple[Attempt, str]]] = defaultdict(list)
    for mid, probe, resolver, domain, verdict, method, round_id, _at in rows:
        rounds = firsts[(probe, resolver, domain)]
        order = sorted(rounds, key=lambda r: (rounds[r], r))
        history[(probe, resolver, domain)].append(
            (Attempt(order.index(round_id), Status(verdict), method, attempt_id=mid), round_id))
    out = {}
    for mid, key in drops.items():
        rounds, mine = firsts[key[:3]], None
        for attempt, round_id in history[key[:3]]:
            if attempt.attempt_id == mid:
                mine, here = attempt, rounds[round_id]
        if mine is None:
            out[mid] = Status.SUSPECT
            continue
        near = [a for a, r in history[key[:3]] if abs(rounds[r] - here) <= STRENGTH_SPAN_US]
        out[mid] = strengthen(mine, near)
    return out


def oracle_site_rows(db: Database, where: str, params: dict[str, Any]
                     ) -> dict[str, dict[str, Any]]:
    """What siteverdict.py makes of the stored DNS and web verdicts of the
    measurements matching `where` (over `verdicts`): the readable statement
    the production query is tested against. Keyed by measurement id."""
    dns_rows = {r[0]: r for r in db.rows(f"{_DNS_SELECT} WHERE {where}", params)}
    follow: dict[str, list[tuple[str, WebVerdict, WebObservation]]] = defaultdict(list)
    for (oid, ids, name, address, verdict, method, rule, status, fp, edge, valid, handshake,
         _asn, round_id) in db.rows(_WEB_SELECT):
        wv = WebVerdict(Status(verdict), WebRule(rule), WebMethod(method),
                        WebEvidence(address=address, status=int(status), fingerprint=fp,
                                    edge_operator=edge))
        obs = WebObservation(oid, "", "", round_id, 0, name, address,
                             tls_attempted=bool(handshake), has_certificate=bool(handshake),
                             chain_verified=bool(valid), name_matches=bool(valid))
        for mid in ids:
            if mid in dns_rows:
                follow[mid].append((oid, wv, obs))
    strong = _oracle_strength(db, {
        mid: (r[1], r[3], r[2], int(r[10])) for mid, r in dns_rows.items()
        if (r[5], r[6]) == (Status.BLOCKED.value, Method.DROP.value)})
    out: dict[str, dict[str, Any]] = {}
    for mid, (_, probe, domain, resolver, transport, verdict, method, rule, answer,
              asn, _at) in dns_rows.items():
        web = sorted(follow.get(mid, []), key=lambda f: f[0])
        status = strong.get(mid, Status(verdict))
        dns = Verdict(status, Rule(rule), Method(method), Evidence(answer=tuple(answer)))
        upgraded = (dns.status is Status.SUSPECT and bool(web)
                    and tls_evidence(domain, [o for _, _, o in web]).consistent(answer))
        if upgraded:
            dns = Verdict(Status.OK, dns.rule, dns.method, dns.evidence)
        key = PathKey(probe, resolver, transport, domain, "")
        row = _site_row(mid, dns, [(oid, w) for oid, w, _ in web], key, int(asn))
        if upgraded:
            row["dns_rule"] = TLS_CONSISTENT_RULE
        out[mid] = row
    return out


def site_watermark_us(db: Database) -> int:
    return newest_received_us(db, "site_verdicts")


def write_sites(db: Database, where: str, params: dict[str, Any], version: str) -> int:
    """Site verdicts for the DNS verdicts matching `where` without one yet."""
    found = db.rows("SELECT uniqExact(measurement_id), toUnixTimestamp64Micro(min(started_at)), "
                    f"toUnixTimestamp64Micro(max(started_at)) FROM verdicts WHERE {where}",
                    params)
    ids, slo, shi = (int(v) for v in found[0]) if found else (0, 0, 0)
    if not ids:
        return 0
    already = ("started_at BETWEEN fromUnixTimestamp64Micro({slo:Int64}, 'UTC') "
               "AND fromUnixTimestamp64Micro({shi:Int64}, 'UTC')")
    done = db.rows(f"SELECT uniqExact(measurement_id) FROM site_verdicts WHERE {already} AND "
                   f"measurement_id IN (SELECT measurement_id FROM verdicts WHERE {where})",
                   {**params, "slo": slo, "shi": shi})
    skipped = int(done[0][0]) if done else 0
    if skipped < ids:
        sql = for_engine(db, site_sql(), MATERIALIZED_CTES)
        db.command(sql.replace("{where}", where).replace("{already}", already),
                   {**params, "slo": slo, "shi": shi, "flo": slo,
                    "fhi": shi + FOLLOW_UP_SPAN_US, "hlo": slo - STRENGTH_SPAN_US,
                    "hhi": shi + STRENGTH_SPAN_US, "version": version})
    return ids - skipped



def store_pending_site_verdicts(db: Database, version: str, *, cutoff_us: int,
                                max_rows: int = SITE_CHUNK_ROWS, floor_us: int = 0) -> int:
    """Site verdicts for DNS verdicts received after the site watermark and up
    to `cutoff_us` (the caller's rule: their follow-ups have web verdicts, see
    storage.site_cutoff_us); at most about `max_rows` per call, whole insert
    groups (rows sharing a received_at are never split)."""
    low = max(site_watermark_us(db), floor_us)
    if cutoff_us <= low:
        return 0
    pending = ("received_at > fromUnixTimestamp64Micro({low:Int64}, 'UTC') AND "
               "received_at <= fromUnixTimestamp64Micro({cutoff:Int64}, 'UTC')")
    n = 0
    while cutoff_us > low and not n:
        params: dict[str, Any] = {"low": low, "cutoff": cutoff_us, "offset": max_rows}
        edge = db.rows("SELECT toUnixTimestamp64Micro(received_at) FROM verdicts "
                       f"WHERE {pending} ORDER BY received_at LIMIT 1 OFFSET {{offset:UInt64}}",
                       params)
        if edge:
            params["cutoff"] = int(edge[0][0])
        n = write_sites(db, pending, params, version)
        if not edge:
            break
        low = params["cutoff"]
    if n:
        log.info("event=site_classified measurements=%d version=%s", n, version)
    return n


def site_reclassify_chunk(db: Database, version: str, day: Any, mark_us: int,
                          chunk: tuple[int, int]) -> int:
    """Write the site verdicts of one planned [lo, hi) µs chunk of started_at."""
    where = ("toDate(started_at) >= {day:Date} AND received_at <= "
             "fromUnixTimestamp64Micro({mark:Int64}, 'UTC') AND started_at >= "
             "fromUnixTimestamp64Micro({clo:Int64}, 'UTC') AND started_at < "
             "fromUnixTimestamp64Micro({chi:Int64}, 'UTC')")
    return write_sites(db, where, {"day": day, "mark": mark_us, "clo": chunk[0],
                                   "chi": chunk[1]}, version)
