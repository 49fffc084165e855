"""Reading measurements and writing verdicts: the I/O around the pure classifier.

Two entry points, the same code path:
- `store_pending_verdicts`: verdicts for measurements received since the last pass
  (the collector runs it in the background; `settle_s` gives control probes'
  batches time to arrive, since a verdict needs the control nearest in time);
- `reclassify`: delete the verdicts of a time range (whole UTC days, the rollup's
  grain) and write them again, after rules or fingerprints change.

The watermark of `store_pending_verdicts` is the newest `received_at` in `verdicts`,
so no separate state can disagree with the table.

The layers (issue 13) follow the DNS verdicts: web verdicts per follow-up
(webstorage.py, the same watermark rule over `web_verdicts`), then one site
verdict per DNS measurement (sitesql.py), which waits for its follow-ups: a
DNS measurement received at T is judged once every follow-up received up to
T + `web_settle_s` has its web verdict (`site_cutoff_us`). Follow-ups come
after the round's DNS, in the same upload batch or a later one.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from blockwatch.analysis.controls import DEFAULT_WINDOW_US, ControlIndex
from blockwatch.analysis.database import Database
from blockwatch.analysis.dnsverdicts import classifier_version, classify
from blockwatch.analysis.fingerprints import FingerprintSet
from blockwatch.analysis.httpfingerprints import HttpFingerprintSet, load_http_fingerprints
from blockwatch.analysis.materialize import for_engine
from blockwatch.analysis.observation import Answer, LaterResponse, Observation
from blockwatch.analysis.rules_sql import MATERIALIZED_CTES, classify_sql
from blockwatch.analysis.sitesql import (
    site_classifier_version,
    site_reclassify_chunk,
    site_watermark_us,
    store_pending_site_verdicts,
)
from blockwatch.analysis.verdict import Verdict
from blockwatch.analysis.watermark import newest_received_us
from blockwatch.analysis.webstorage import (
    WEB_CHUNK_ROWS,
    store_pending_web_verdicts,
    web_reclassify_chunk,
    web_watermark_us,
)
from blockwatch.analysis.webverdicts import web_classifier_version
from blockwatch.contract.vocabulary import Purpose

log = logging.getLogger(__name__)

CHUNK_ROWS = 200_000  # per engine call: ~56k/s at 200k, ~27k/s at 50k (bench/classify.py)

_SELECT = """SELECT toString(measurement_id), probe_name, probe_country, probe_asn,
    probe_control, toUnixTimestamp64Micro(started_at), toUnixTimestamp64Micro(received_at),
    domain, qtype, toString(purpose), resolver_name, toString(transport), toString(failure),
    rcode, flags, answers.type, answers.data, cname_chain, authority_count, ede_codes,
    ede_texts, response_count, later_rcode, later_answer_data, parse_error,
    reply_count, answer_set_count, stray_count, stray_reason
FROM measurements FINAL"""

VERDICT_COLUMNS = (
    "measurement_id", "started_at", "received_at", "probe_name", "probe_country",
    "probe_asn", "probe_control", "domain", "qtype", "purpose", "resolver_name", "transport",
    "failure", "verdict", "method", "rule", "rcode", "ede_code", "ede_text", "fingerprint",
    "answer", "control_outcome", "control_answer", "control_measurement_id",
    "resolver_health", "classifier_version", "classified_at")


@dataclass(frozen=True, slots=True)
class PassResult:
    measurements: int
    seconds: float


def observation(row: Sequence[Any]) -> Observation:
    """A row of `_SELECT` as the classifier's Observation."""
    (mid, probe, country, asn, control, started, received, domain, qtype, purpose, resolver,
     transport, failure, rcode, flags, a_types, a_data, cnames, authority, ede_codes,
     ede_texts, count, later_rcode, later_data, parse_error, replies, answer_sets, strays,
     stray_reasons) = row
    return Observation(
        measurement_id=mid, probe_name=probe, probe_country=country, probe_asn=int(asn),
        probe_control=bool(control), started_at_us=int(started), received_at_us=int(received),
        domain=domain, qtype=int(qtype), purpose=purpose, resolver_name=resolver,
        transport=transport, failure=failure, rcode=None if rcode is None else int(rcode),
        flags=int(flags),
        answers=tuple(Answer(int(t), d) for t, d in zip(a_types, a_data, strict=False)),
        cname_chain=tuple(cnames), authority_count=int(authority),
        ede=tuple(zip((int(c) for c in ede_codes), ede_texts, strict=False)),
        response_count=int(count),
        later=tuple(LaterResponse(int(r), tuple(d))
                    for r, d in zip(later_rcode, later_data, strict=False)),
        parse_error=parse_error, reply_count=int(replies), answer_set_count=int(answer_sets),
        stray_count=int(strays), stray_reasons=tuple(stray_reasons))


def _ts(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC)


def verdict_row(obs: Observation, v: Verdict, classified_at: dt.datetime) -> tuple[Any, ...]:
    e = v.evidence
    return (obs.measurement_id, _ts(obs.started_at_us), _ts(obs.received_at_us),
            obs.probe_name, obs.probe_country, obs.probe_asn, obs.probe_control, obs.domain,
            obs.qtype, obs.purpose, obs.resolver_name, obs.transport, obs.failure,
            v.status.value, v.method.value, v.rule.value, e.rcode, e.ede_code, e.ede_text,
            e.fingerprint, list(e.answer), e.control_outcome, list(e.control_answer),
            e.control_measurement_id, e.resolver_health, v.version, classified_at)


def oracle_verdicts(db: Database, where: str, params: dict[str, Any], fps: FingerprintSet,
                    window_us: int = DEFAULT_WINDOW_US) -> list[tuple[Any, ...]]:
    """What the pure rules (dnsverdicts.py) make of the measurements matching
    `where`, as verdict rows: the readable statement the production query
    (rules_sql.py) is tested against. Slow (one Python object at a time)."""
    latest: dict[str, Observation] = {}
    for o in (observation(r) for r in db.rows(f"{_SELECT} WHERE {where}", params)):
        # One verdict per id: the latest stored copy wins, as FINAL would.
        if o.measurement_id not in latest or o.received_at_us >= \
                latest[o.measurement_id].received_at_us:
            latest[o.measurement_id] = o
    targets = list(latest.values())
    if not targets:
        return []
    span = {"lo": min(o.started_at_us for o in targets) - window_us,
            "hi": max(o.started_at_us for o in targets) + window_us}
    when = ("started_at BETWEEN fromUnixTimestamp64Micro({lo:Int64}, 'UTC') "
            "AND fromUnixTimestamp64Micro({hi:Int64}, 'UTC')")
    refs = [observation(r) for r in db.rows(f"{_SELECT} WHERE probe_control AND {when}", span)]
    health = [observation(r) for r in db.rows(
        f"{_SELECT} WHERE purpose = '{Purpose.CONTROL.label}' AND {when}", span)]
    index = ControlIndex(refs, health, window_us)
    now = dt.datetime.now(dt.UTC)
    return [verdict_row(o, classify(o, index.context(o), fps), now) for o in targets]


@dataclass(frozen=True, slots=True)
class _Judged:
    written: int
    skipped: int     # ids that had a verdict already (a copy stored later)


def _judge(db: Database, where: str, params: dict[str, Any], fps: FingerprintSet,
           window_us: int) -> _Judged:
    """Verdicts for the measurements matching `where`, written by the engine
    (rules_sql.py): one INSERT ... SELECT, no row through Python."""
    found = db.rows("SELECT uniqExact(measurement_id), toUnixTimestamp64Micro(min(started_at)), "
                    f"toUnixTimestamp64Micro(max(started_at)) FROM measurements WHERE {where}",
                    params)
    ids, slo, shi = (int(v) for v in found[0]) if found else (0, 0, 0)
    if not ids:
        return _Judged(0, 0)
    span = {**params, "slo": slo, "shi": shi, "lo": slo - window_us, "hi": shi + window_us,
            "window": window_us}
    # A second copy of a measurement stored later (a replay under a new batch
    # id) must not be classified again, or the rollup counts it twice.
    already = ("started_at BETWEEN fromUnixTimestamp64Micro({slo:Int64}, 'UTC') "
               "AND fromUnixTimestamp64Micro({shi:Int64}, 'UTC')")
    done = db.rows(f"SELECT uniqExact(measurement_id) FROM verdicts WHERE {already} AND "
                   f"measurement_id IN (SELECT measurement_id FROM measurements WHERE {where})",
                   span)
    skipped = int(done[0][0]) if done else 0
    if skipped < ids:
        sql, constants = classify_sql(fps, classifier_version(fps))
        sql = for_engine(db, sql, MATERIALIZED_CTES)
        db.command(sql.replace("{where}", where).replace("{already}", already),
                   {**constants, **span})
    return _Judged(ids - skipped, skipped)


def watermark_us(db: Database) -> int:
    """Newest `received_at` already classified (0: nothing yet)."""
    return newest_received_us(db, "verdicts")


def store_pending_verdicts(db: Database, fps: FingerprintSet, *, settle_s: float = 0.0,
                           window_us: int = DEFAULT_WINDOW_US, max_rows: int = CHUNK_ROWS,
                           now_us: int | None = None, floor_us: int = 0) -> PassResult:
    """Classify measurements received after the watermark and at least
    `settle_s` ago; at most about `max_rows` per call (whole insert groups:
    rows sharing a received_at are never split, or the watermark would skip
    the rest). Each measurement id is classified once: copies of measurements
    that already have a verdict are skipped (a chunk of nothing but such copies
    is stepped over within the call, so it never stalls the pass). `floor_us`:
    never below this received_at (a reclassify in progress owns what is older)."""
    started = time.perf_counter()
    low = max(watermark_us(db), floor_us)
    cutoff = (now_us if now_us is not None else time.time_ns() // 1000) - int(settle_s * 1e6)
    pending = ("received_at > fromUnixTimestamp64Micro({low:Int64}, 'UTC') AND "
               "received_at <= fromUnixTimestamp64Micro({cutoff:Int64}, 'UTC')")
    n = skipped = 0
    while cutoff > low and not n:
        params = {"low": low, "cutoff": cutoff, "offset": max_rows}
        edge = db.rows("SELECT toUnixTimestamp64Micro(received_at) FROM measurements "
                       f"WHERE {pending} ORDER BY received_at LIMIT 1 OFFSET {{offset:UInt64}}",
                       params)
        if edge:
            params["cutoff"] = int(edge[0][0])
        judged = _judge(db, pending, params, fps, window_us)
        n, skipped = n + judged.written, skipped + judged.skipped
        if not edge:
            break
        low = params["cutoff"]
    if skipped:
        log.warning("event=duplicates_not_reclassified measurements=%d", skipped)
    if n:
        log.info("event=classified measurements=%d version=%s", n, classifier_version(fps))
    return PassResult(n, time.perf_counter() - started)


def _delete(db: Database, table: str, where: str) -> None:
    if db.cluster:
        db.command(f"ALTER TABLE {table}_local ON CLUSTER {db.cluster} DELETE WHERE {where} "
                   "SETTINGS mutations_sync = 2")
    else:
        db.command(f"DELETE FROM {table} WHERE {where}")


def _hour_chunks(db: Database, where: str, params: dict[str, Any], max_rows: int
                 ) -> Iterator[tuple[int, int]]:
    """[lo, hi) µs ranges of whole hours holding about max_rows measurements each."""
    hours = db.rows("SELECT toUnixTimestamp(toStartOfHour(started_at)) AS h, count() "
                    f"FROM measurements WHERE {where} GROUP BY h ORDER BY h", params)
    return _grouped(hours, max_rows)


def site_cutoff_us(web_frontier_us: int, web_settle_s: float) -> int:
    """Newest DNS `received_at` whose site verdict may be written: its
    follow-ups had `web_settle_s` to arrive, and everything received by then
    has a web verdict (`web_frontier_us`, from the web pass)."""
    return web_frontier_us - int(web_settle_s * 1e6)


def layers_version(fps: FingerprintSet, hfps: HttpFingerprintSet) -> str:
    return site_classifier_version(classifier_version(fps), web_classifier_version(hfps))


@dataclass(frozen=True, slots=True)
class LayersResult:
    web: int              # follow-ups given a web verdict
    sites: int            # DNS measurements given a site verdict
    seconds: float


def store_pending_layer_verdicts(db: Database, fps: FingerprintSet, hfps: HttpFingerprintSet, *,
                                 settle_s: float = 0.0, web_settle_s: float = 0.0,
                                 window_us: int = DEFAULT_WINDOW_US, now_us: int | None = None,
                                 web_floor_us: int = 0, site_floor_us: int = 0) -> LayersResult:
    """Every pending web verdict, then every site verdict whose follow-ups are
    judged (run after `store_pending_verdicts`); the collector runs the same steps
    one chunk per lane call (collector/verdictpass.py)."""
    started = time.perf_counter()
    now = now_us if now_us is not None else time.time_ns() // 1000
    web = sites = 0
    while True:
        step = store_pending_web_verdicts(db, hfps, settle_s=settle_s, now_us=now,
                                          window_us=window_us, floor_us=web_floor_us)
        web += step.observations
        if not step.observations:
            break
    while True:
        n = store_pending_site_verdicts(db, layers_version(fps, hfps),
                                        cutoff_us=site_cutoff_us(step.frontier_us, web_settle_s),
                                        floor_us=site_floor_us)
        sites += n
        if not n:
            break
    return LayersResult(web, sites, time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class Reclassification:
    """A reclassify under way: verdicts from `day` were deleted (DNS, web,
    site and their rollups); `chunks` are the [lo, hi) µs ranges of started_at
    still to write, each about max_rows measurements received up to `mark_us`
    (`web_chunks`: follow-ups received up to `web_mark_us`; `site_chunks`: DNS
    verdicts received up to `site_mark_us`, written after the other two).
    Later ones are the background pass's (its floors meanwhile are the marks,
    so nothing is judged twice).

    Every mark is at most the site watermark when it began: what had DNS or
    web verdicts but no site verdict yet is judged again by the pass, in
    order, so its site step finds each DNS verdict before passing it. (With
    the DNS mark at the DNS watermark, those DNS verdicts were the
    reclassify's to write, late, and the pass's site step had moved past them
    by then: they never got a site verdict.) Follow-ups received after the
    web mark and judged before it began (up to `web_judged_us`) may belong to
    measurements of the site chunks: `rejudge_web_before_sites` makes sure
    they have web verdicts again first."""

    day: dt.date
    mark_us: int
    chunks: tuple[tuple[int, int], ...]
    web_mark_us: int = 0
    web_chunks: tuple[tuple[int, int], ...] = ()
    site_mark_us: int = 0
    site_chunks: tuple[tuple[int, int], ...] = ()
    web_judged_us: int = 0


_RECLASSIFY_WHERE = ("toDate(started_at) >= {day:Date} AND "
                     "received_at <= fromUnixTimestamp64Micro({mark:Int64}, 'UTC')")


def _web_hour_chunks(db: Database, params: dict[str, Any], max_rows: int
                     ) -> Iterator[tuple[int, int]]:
    hours = db.rows("SELECT toUnixTimestamp(toStartOfHour(started_at)) AS h, count() "
                    f"FROM web_observations WHERE {_RECLASSIFY_WHERE} GROUP BY h ORDER BY h",
                    params)
    return _grouped(hours, max_rows)


def _grouped(hours: list[tuple[Any, ...]], max_rows: int) -> Iterator[tuple[int, int]]:
    lo: int | None = None
    size = hi = 0
    for hour, count in hours:
        if lo is None:
            lo = int(hour) * 1_000_000
        hi = (int(hour) + 3600) * 1_000_000
        size += int(count)
        if size >= max_rows:
            yield lo, hi
            lo, size = None, 0
    if lo is not None:
        yield lo, hi


# The monthly rollup's rows of one month from the daily rollup's days: the
# same sums, as its view would have written them.
_MONTH_FROM_DAYS = """INSERT INTO layers_sites_monthly (layer, month, probe_country,
    resolver_name, domain, verdict, site_layer, method, party, operator, measurements,
    first_at, last_at)
SELECT layer, toStartOfMonth(day) AS month, probe_country, resolver_name, domain, verdict,
    site_layer, method, party, operator, sum(measurements), min(first_at), max(last_at)
FROM layers_sites_daily
WHERE day >= toStartOfMonth({day:Date}) AND day < {day:Date}
GROUP BY layer, month, probe_country, resolver_name, domain, verdict, site_layer, method,
    party, operator"""


def _rebuild_month(db: Database, day: dt.date) -> None:
    """Delete layers_sites_monthly from `day`'s month on, and put back that
    month's days before `day` (which reclassify keeps) from the daily rollup;
    the rewritten site verdicts then fill the rest through its view, so it
    stays the daily rollup summed per month, nothing counted twice."""
    _delete(db, "layers_sites_monthly", f"month >= toStartOfMonth(toDate('{day.isoformat()}'))")
    if day.day != 1:
        db.command(_MONTH_FROM_DAYS, {"day": day})


def begin_reclassify(db: Database, since: dt.date | None, *, max_rows: int = CHUNK_ROWS
                     ) -> Reclassification:
    """Delete the verdicts from `since` (a UTC day; None: everything), DNS,
    web and site, with their rollups, and plan the chunks that write them
    again (`reclassify_chunk`, `reclassify_web_chunk`, `reclassify_site_chunk`,
    in that order)."""
    site_mark, web_judged = site_watermark_us(db), web_watermark_us(db)
    mark, web_mark = min(watermark_us(db), site_mark), min(web_judged, site_mark)
    day = since or dt.date(1970, 1, 1)
    stamp = f"started_at >= toDateTime64('{day.isoformat()}', 6, 'UTC')"
    _delete(db, "verdicts", stamp)
    _delete(db, "verdicts_daily", f"day >= toDate('{day.isoformat()}')")
    _delete(db, "web_verdicts", stamp)
    _delete(db, "site_verdicts", stamp)
    _delete(db, "layers_daily", f"day >= toDate('{day.isoformat()}')")
    _delete(db, "layers_sites_daily", f"day >= toDate('{day.isoformat()}')")   # 0011
    _delete(db, "sources_daily", f"day >= toDate('{day.isoformat()}')")   # 0013
    _rebuild_month(db, day)   # 0014
    chunks = tuple(_hour_chunks(db, _RECLASSIFY_WHERE, {"day": day, "mark": mark}, max_rows))
    web_chunks = tuple(_web_hour_chunks(db, {"day": day, "mark": web_mark},
                                        min(max_rows, WEB_CHUNK_ROWS)))
    site_chunks = tuple(_hour_chunks(db, _RECLASSIFY_WHERE, {"day": day, "mark": site_mark},
                                     max_rows))
    return Reclassification(day, mark, chunks, web_mark, web_chunks, site_mark, site_chunks,
                            web_judged)


def reclassify_chunk(db: Database, fps: FingerprintSet, plan: Reclassification,
                     chunk: tuple[int, int], *, window_us: int = DEFAULT_WINDOW_US) -> int:
    """Write the verdicts of one planned chunk; returns how many."""
    params = {"day": plan.day, "mark": plan.mark_us, "clo": chunk[0], "chi": chunk[1]}
    where = (f"{_RECLASSIFY_WHERE} AND started_at >= fromUnixTimestamp64Micro({{clo:Int64}}, "
             "'UTC') AND started_at < fromUnixTimestamp64Micro({chi:Int64}, 'UTC')")
    return _judge(db, where, params, fps, window_us).written


def reclassify_web_chunk(db: Database, hfps: HttpFingerprintSet, plan: Reclassification,
                         chunk: tuple[int, int], *, window_us: int = DEFAULT_WINDOW_US,
                         max_rows: int = WEB_CHUNK_ROWS) -> int:
    return web_reclassify_chunk(db, hfps, plan.day, plan.web_mark_us, chunk,
                                window_us=window_us, max_rows=max_rows)


def rejudge_web_before_sites(db: Database, hfps: HttpFingerprintSet, plan: Reclassification,
                             *, window_us: int = DEFAULT_WINDOW_US) -> bool:
    """Before the site chunks: one chunk of the follow-ups received after the
    web mark that had web verdicts when the reclassify began (the pass judges
    them again from its floor; this does it if the pass has not yet). True
    once none is left."""
    if plan.web_judged_us <= plan.web_mark_us:
        return True
    web = store_pending_web_verdicts(db, hfps, settle_s=0.0, now_us=plan.web_judged_us,
                                     window_us=window_us, floor_us=plan.web_mark_us)
    return web.frontier_us >= plan.web_judged_us


def reclassify_site_chunk(db: Database, fps: FingerprintSet, hfps: HttpFingerprintSet,
                          plan: Reclassification, chunk: tuple[int, int]) -> int:
    return site_reclassify_chunk(db, layers_version(fps, hfps), plan.day, plan.site_mark_us,
                                 chunk)


def reclassify(db: Database, fps: FingerprintSet, since: dt.date | None = None, *,
               window_us: int = DEFAULT_WINDOW_US, max_rows: int = CHUNK_ROWS,
               settle_s: float = 0.0, web_settle_s: float = 0.0,
               http_fingerprints: HttpFingerprintSet | None = None) -> PassResult:
    """Recompute every verdict from `since` (a UTC day; None: everything):
    DNS, web and site; then catch up on what was received since the last pass
    and at least `settle_s` ago, as the background pass would (a fresher
    measurement's control may still be on its way)."""
    started = time.perf_counter()
    hfps = http_fingerprints or load_http_fingerprints()
    plan = begin_reclassify(db, since, max_rows=max_rows)
    total = sum(reclassify_chunk(db, fps, plan, c, window_us=window_us) for c in plan.chunks)
    web = sum(reclassify_web_chunk(db, hfps, plan, c, window_us=window_us,
                                   max_rows=min(max_rows, WEB_CHUNK_ROWS))
              for c in plan.web_chunks)
    while not rejudge_web_before_sites(db, hfps, plan, window_us=window_us):
        pass
    sites = sum(reclassify_site_chunk(db, fps, hfps, plan, c) for c in plan.site_chunks)
    while True:
        caught = store_pending_verdicts(db, fps, settle_s=settle_s, window_us=window_us,
                                        max_rows=max_rows)
        total += caught.measurements
        if not caught.measurements:
            break
    layers = store_pending_layer_verdicts(db, fps, hfps, settle_s=settle_s,
                                          web_settle_s=web_settle_s, window_us=window_us)
    log.info("event=reclassified since=%s measurements=%d web=%d sites=%d", since, total,
             web + layers.web, sites + layers.sites)
    return PassResult(total, time.perf_counter() - started)
