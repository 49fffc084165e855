"""Reading measurements and writing verdicts: the I/O around the pure classifier.

Two entry points, the same code path:
- `classify_pending`: verdicts for measurements received since the last pass
  (the collector runs it in the background; `settle_s` gives control probes'
  batches time to arrive, since a verdict needs the control nearest in time);
- `reclassify`: delete the verdicts of a time range (whole UTC days, the rollup's
  grain) and write them again, after rules or fingerprints change.

The watermark of `classify_pending` is the newest `received_at` in `verdicts`,
so no separate state can disagree with the table.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from blockwatch.analysis.classify import classifier_version, classify
from blockwatch.analysis.controls import DEFAULT_WINDOW_US, ControlIndex
from blockwatch.analysis.database import Database
from blockwatch.analysis.fingerprints import FingerprintSet
from blockwatch.analysis.observation import Answer, LaterResponse, Observation
from blockwatch.analysis.rules_sql import classify_sql
from blockwatch.analysis.verdict import Verdict

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
class ClassifyResult:
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
    """What the pure rules (classify.py) make of the measurements matching
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
        f"{_SELECT} WHERE purpose = 'control' AND {when}", span)]
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
        db.command(sql.replace("{where}", where).replace("{already}", already),
                   {**constants, **span})
    return _Judged(ids - skipped, skipped)


def watermark_us(db: Database) -> int:
    """Newest `received_at` already classified (0: nothing yet)."""
    rows = db.rows("SELECT toUnixTimestamp64Micro(max(received_at)), count() FROM verdicts")
    return int(rows[0][0]) if rows and int(rows[0][1]) else 0


def classify_pending(db: Database, fps: FingerprintSet, *, settle_s: float = 0.0,
                     window_us: int = DEFAULT_WINDOW_US, max_rows: int = CHUNK_ROWS,
                     now_us: int | None = None, floor_us: int = 0) -> ClassifyResult:
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
    return ClassifyResult(n, time.perf_counter() - started)


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
    lo: int | None = None
    size = 0
    hi = 0
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


@dataclass(frozen=True, slots=True)
class Reclassification:
    """A reclassify under way: verdicts from `day` were deleted; `chunks` are
    the [lo, hi) µs ranges of started_at still to write, each about max_rows
    measurements received up to `mark_us`. Later ones are the background
    pass's (its floor meanwhile is `mark_us`, so nothing is judged twice)."""

    day: dt.date
    mark_us: int
    chunks: tuple[tuple[int, int], ...]


_RECLASSIFY_WHERE = ("toDate(started_at) >= {day:Date} AND "
                     "received_at <= fromUnixTimestamp64Micro({mark:Int64}, 'UTC')")


def begin_reclassify(db: Database, since: dt.date | None, *, max_rows: int = CHUNK_ROWS
                     ) -> Reclassification:
    """Delete the verdicts from `since` (a UTC day; None: everything) and plan
    the chunks that write them again (`reclassify_chunk`)."""
    mark = watermark_us(db)
    day = since or dt.date(1970, 1, 1)
    _delete(db, "verdicts", f"started_at >= toDateTime64('{day.isoformat()}', 6, 'UTC')")
    _delete(db, "verdicts_daily", f"day >= toDate('{day.isoformat()}')")
    chunks = tuple(_hour_chunks(db, _RECLASSIFY_WHERE, {"day": day, "mark": mark}, max_rows))
    return Reclassification(day, mark, chunks)


def reclassify_chunk(db: Database, fps: FingerprintSet, plan: Reclassification,
                     chunk: tuple[int, int], *, window_us: int = DEFAULT_WINDOW_US) -> int:
    """Write the verdicts of one planned chunk; returns how many."""
    params = {"day": plan.day, "mark": plan.mark_us, "clo": chunk[0], "chi": chunk[1]}
    where = (f"{_RECLASSIFY_WHERE} AND started_at >= fromUnixTimestamp64Micro({{clo:Int64}}, "
             "'UTC') AND started_at < fromUnixTimestamp64Micro({chi:Int64}, 'UTC')")
    return _judge(db, where, params, fps, window_us).written


def reclassify(db: Database, fps: FingerprintSet, since: dt.date | None = None, *,
               window_us: int = DEFAULT_WINDOW_US, max_rows: int = CHUNK_ROWS,
               settle_s: float = 0.0) -> ClassifyResult:
    """Recompute every verdict from `since` (a UTC day; None: everything), then
    catch up on measurements received since the last pass and at least
    `settle_s` ago, as the background pass would (a fresher measurement's
    control may still be on its way)."""
    started = time.perf_counter()
    plan = begin_reclassify(db, since, max_rows=max_rows)
    total = sum(reclassify_chunk(db, fps, plan, c, window_us=window_us) for c in plan.chunks)
    while True:
        caught = classify_pending(db, fps, settle_s=settle_s, window_us=window_us,
                                  max_rows=max_rows)
        total += caught.measurements
        if not caught.measurements:
            break
    log.info("event=reclassified since=%s measurements=%d", since, total)
    return ClassifyResult(total, time.perf_counter() - started)
