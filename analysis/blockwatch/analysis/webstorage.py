"""Web verdicts in storage: read web follow-ups (`web_observations`), gather
what each is judged against, run the pure web rules (webverdicts.py) and
evidence strength (strength.py), write `web_verdicts` (migration 0008).

The rules run in Python: with the block-page scan in one Aho-Corasick pass
(httpfingerprints.py) a follow-up costs about 0.1 ms, and follow-ups are a
fraction of DNS measurements (bench/classify.py, `web_per_s`). The context
comes from the engine in a few set-wise queries per chunk:
- controls: the control vantages' follow-ups of the chunk's names within the
  window (6 h, as for DNS), nearest first;
- the round: which addresses and names this probe connected to in the same
  round (ip-drop "through no path at all while it reaches other sites");
- strength: for a silent block (ip-drop), the same probe's follow-ups of the
  name in its round and the rounds just before and after (rounds ordered per
  probe by their first follow-up, then round id), judged by the same rules.

Watermark: the newest `received_at` in `web_verdicts`; a follow-up is judged
`settle_s` after it arrived (the control's may arrive later), once per id.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from blockwatch.analysis.controls import DEFAULT_WINDOW_US
from blockwatch.analysis.database import Database
from blockwatch.analysis.httpfingerprints import HttpFingerprintSet
from blockwatch.analysis.sitesql import FOLLOW_UP_SPAN_US
from blockwatch.analysis.strength import SILENT_METHODS, Attempt, strengthen
from blockwatch.analysis.verdict import Status
from blockwatch.analysis.watermark import newest_received_us
from blockwatch.analysis.webobservation import NONE, WebContext, WebObservation
from blockwatch.analysis.webverdicts import WebVerdict, classify_web, web_classifier_version

log = logging.getLogger(__name__)

WEB_CHUNK_ROWS = 5_000   # a body prefix is up to 8 KiB: about 100 MB a chunk at most
_SEP = "\x00"
_TLS_CERTIFICATE = "tls_certificate"

# Latest stored copy per id (a replay stored twice is one follow-up).
_SELECT = """SELECT toString(observation_id), probe_name, probe_country, probe_asn,
    probe_control, round_id, toUnixTimestamp64Micro(started_at),
    toUnixTimestamp64Micro(received_at), name, address, port, toString(scheme),
    arrayMap(i -> toString(i), dns_measurement_ids), toString(connect_failure), tls_attempted,
    toString(tls_failure), tls_failure_text, has_certificate, cert_sha256, cert_sans,
    chain_verified, name_matches, http_sent, status, `headers.name`, `headers.value`,
    body_sha256, hex(body_prefix), title, toString(http_failure), redirect_location
FROM web_observations"""
_LATEST = " ORDER BY received_at DESC LIMIT 1 BY observation_id"

WEB_VERDICT_COLUMNS = (
    "observation_id", "started_at", "received_at", "round_id", "probe_name", "probe_country",
    "probe_asn", "probe_control", "name", "address", "port", "scheme", "dns_measurement_ids",
    "verdict", "method", "rule", "failure", "status", "title", "fingerprint",
    "fingerprint_source", "server", "edge_operator", "certificate_valid", "tls_handshake",
    "tls_consistent", "differs", "control_observation_id", "classifier_version",
    "classified_at")


@dataclass(frozen=True, slots=True)
class StoredWeb:
    """A web_observations row: what the rules read plus what the row keeps."""

    web: WebObservation
    probe_asn: int
    received_at_us: int
    dns_measurement_ids: tuple[str, ...]


def stored_web(row: Sequence[Any]) -> StoredWeb:
    """A row of `_SELECT` as the rules' WebObservation."""
    (oid, probe, country, asn, control, round_id, started, received, name, address, port,
     scheme, dns_ids, connect, tls_attempted, tls_failure, tls_text, has_cert, cert_sha,
     sans, chain, matches, sent, status, h_names, h_values, body_sha, body_hex, title,
     http_failure, redirects) = row
    if tls_failure == _TLS_CERTIFICATE and has_cert:
        # The probe records a certificate that does not verify by completing a
        # second, unverified handshake (probe/web.py) and sends the request over
        # it: the handshake with SNI = name was done; chain_verified and
        # name_matches say what was wrong with the certificate.
        tls_failure = NONE
    web = WebObservation(
        observation_id=oid, probe_name=probe, probe_country=country, round_id=round_id,
        started_at_us=int(started), name=name, address=address, port=int(port),
        scheme=scheme, probe_control=bool(control), connect_failure=connect,
        tls_attempted=bool(tls_attempted), tls_failure=tls_failure, tls_failure_text=tls_text,
        has_certificate=bool(has_cert), cert_sha256=cert_sha, cert_sans=tuple(sans),
        chain_verified=bool(chain), name_matches=bool(matches), http_sent=bool(sent),
        status=int(status), headers=tuple(zip(h_names, h_values, strict=False)),
        body_sha256=body_sha, body_prefix=bytes.fromhex(body_hex), title=title,
        http_failure=http_failure, redirect_locations=tuple(r for r in redirects if r))
    return StoredWeb(web, int(asn), int(received), tuple(dns_ids))


def _latest(rows: Iterable[Sequence[Any]]) -> list[StoredWeb]:
    out: dict[str, StoredWeb] = {}
    for s in map(stored_web, rows):
        old = out.get(s.web.observation_id)
        if old is None or s.received_at_us >= old.received_at_us:
            out[s.web.observation_id] = s
    return list(out.values())


def _span(items: Sequence[StoredWeb], window_us: int) -> dict[str, int]:
    return {"lo": min(s.web.started_at_us for s in items) - window_us,
            "hi": max(s.web.started_at_us for s in items) + window_us}


_WHEN = ("started_at BETWEEN fromUnixTimestamp64Micro({lo:Int64}, 'UTC') "
         "AND fromUnixTimestamp64Micro({hi:Int64}, 'UTC')")


@dataclass(slots=True)
class _Round:
    connected_addresses: set[str]
    connected_names: set[str]


class ContextLoader:
    """Everything the web rules and evidence strength need for a set of
    follow-ups, read set-wise from the engine (see the module docstring)."""

    def __init__(self, db: Database, fps: HttpFingerprintSet,
                 window_us: int = DEFAULT_WINDOW_US) -> None:
        self.db, self.fps, self.window_us = db, fps, window_us
        self._controls: dict[str, list[tuple[int, WebObservation]]] = {}
        self._covered: dict[str, tuple[int, int]] = {}   # name -> started_at span read
        self._rounds: dict[tuple[str, str], _Round] = {}
        self._order: dict[str, dict[str, int]] = {}   # probe -> round_id -> ordinal

    def load(self, items: Sequence[StoredWeb]) -> None:
        # Controls per name, for the time span its items need (a neighbouring
        # round may lie outside what an earlier load covered: read again).
        need: dict[str, tuple[int, int]] = {}
        for s in items:
            lo, hi = need.get(s.web.name, (s.web.started_at_us, s.web.started_at_us))
            need[s.web.name] = (min(lo, s.web.started_at_us), max(hi, s.web.started_at_us))
        stale = {name: (lo - self.window_us, hi + self.window_us)
                 for name, (lo, hi) in need.items()
                 if not (name in self._covered and self._covered[name][0] <= lo - self.window_us
                         and hi + self.window_us <= self._covered[name][1])}
        if stale:
            for name, (lo, hi) in stale.items():
                if name in self._covered:   # widen, never narrow
                    stale[name] = (min(lo, self._covered[name][0]),
                                   max(hi, self._covered[name][1]))
            span = {"lo": min(lo for lo, _ in stale.values()),
                    "hi": max(hi for _, hi in stale.values())}
            rows = self.db.rows(f"{_SELECT} WHERE probe_control AND name IN "
                                f"{{names:Array(String)}} AND {_WHEN}{_LATEST}",
                                {"names": sorted(stale), **span})
            for name in stale:
                self._controls[name] = []
                self._covered[name] = (span["lo"], span["hi"])
            for s in _latest(rows):
                self._controls[s.web.name].append((s.web.started_at_us, s.web))
            for name in stale:
                self._controls[name].sort(key=lambda c: (c[0], c[1].observation_id))
        keys = sorted({(s.web.probe_name, s.web.round_id) for s in items} - self._rounds.keys())
        if keys:
            rows = self.db.rows(
                "SELECT probe_name, round_id, groupUniqArrayIf(address, connected), "
                "groupUniqArrayIf(name, connected) FROM (SELECT probe_name, round_id, address, "
                f"name, connect_failure = '{NONE}' AS connected FROM web_observations WHERE "
                "concat(probe_name, {sep:String}, round_id) IN {keys:Array(String)}) "
                "GROUP BY probe_name, round_id",
                {"sep": _SEP, "keys": [f"{p}{_SEP}{r}" for p, r in keys]})
            for key in keys:
                self._rounds[key] = _Round(set(), set())
            for probe, round_id, addresses, names in rows:
                self._rounds[(probe, round_id)] = _Round(set(addresses), set(names))

    def context(self, web: WebObservation) -> WebContext:
        timed = self._controls.get(web.name, [])
        lo = bisect.bisect_left(timed, web.started_at_us - self.window_us, key=lambda c: c[0])
        hi = bisect.bisect_right(timed, web.started_at_us + self.window_us, key=lambda c: c[0])
        controls = tuple(c for _, c in timed[lo:hi] if c.observation_id != web.observation_id)
        rnd = self._rounds.get((web.probe_name, web.round_id), _Round(set(), set()))
        return WebContext(controls, web.address in rnd.connected_addresses,
                          bool(rnd.connected_names - {web.name}))

    def raw(self, web: WebObservation) -> WebVerdict:
        """The rules' verdict before evidence strength."""
        return classify_web(web, self.context(web), self.fps)

    def round_order(self, probes: Iterable[str]) -> dict[str, dict[str, int]]:
        """Per probe, each round's ordinal: by its first follow-up, then id."""
        missing = sorted(set(probes) - self._order.keys())
        if missing:
            rows = self.db.rows(
                "SELECT probe_name, round_id, min(started_at) AS first FROM web_observations "
                "WHERE probe_name IN {probes:Array(String)} GROUP BY probe_name, round_id "
                "ORDER BY probe_name, first, round_id", {"probes": missing})
            for probe in missing:
                self._order[probe] = {}
            for probe, round_id, _first in rows:
                order = self._order[probe]
                order[round_id] = len(order)
        return self._order

    def strengthen(self, judged: Sequence[tuple[StoredWeb, WebVerdict]]
                   ) -> list[tuple[StoredWeb, WebVerdict]]:
        """Evidence strength for silent blocks: the same probe's follow-ups of
        the name in the round and the rounds next to it, judged by the rules."""
        silent = [(s, v) for s, v in judged
                  if v.status is Status.BLOCKED and str(v.method) in SILENT_METHODS]
        if not silent:
            return list(judged)
        order = self.round_order({s.web.probe_name for s, _ in silent})
        wanted: set[str] = set()
        for s, _ in silent:
            rounds = order[s.web.probe_name]
            by_number = {n: r for r, n in rounds.items()}
            here = rounds.get(s.web.round_id, -10)
            for n in (here - 1, here, here + 1):
                if n in by_number:
                    wanted.add(_SEP.join((s.web.probe_name, s.web.name, by_number[n])))
        rows = self.db.rows(f"{_SELECT} WHERE concat(probe_name, {{sep:String}}, name, "
                            f"{{sep:String}}, round_id) IN {{keys:Array(String)}}{_LATEST}",
                            {"sep": _SEP, "keys": sorted(wanted)})
        neighbours = _latest(rows)
        self.load(neighbours)
        history: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
        for other in neighbours:
            seen = self.raw(other.web)
            history[(other.web.probe_name, other.web.name)].append(Attempt(
                order[other.web.probe_name][other.web.round_id], seen.status,
                str(seen.method), other.web.address, other.web.observation_id))
        silent_ids = {s.web.observation_id for s, _ in silent}
        out = []
        for s, v in judged:
            if s.web.observation_id in silent_ids:
                attempt = Attempt(order[s.web.probe_name][s.web.round_id], v.status,
                                  str(v.method), s.web.address, s.web.observation_id)
                status = strengthen(attempt, history[(s.web.probe_name, s.web.name)])
                out.append((s, replace(v, status=status)))
            else:
                out.append((s, v))
        return out


def _ts(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC)


def web_verdict_row(s: StoredWeb, v: WebVerdict, version: str,
                    classified_at: dt.datetime) -> tuple[Any, ...]:
    w, e = s.web, v.evidence
    return (w.observation_id, _ts(w.started_at_us), _ts(s.received_at_us), w.round_id,
            w.probe_name, w.probe_country, s.probe_asn, w.probe_control, w.name, w.address,
            w.port, w.scheme, list(s.dns_measurement_ids), v.status.value, v.method.value,
            v.rule.value, e.failure, e.status, e.title, e.fingerprint, e.fingerprint_source,
            e.server, e.edge_operator, w.certificate_valid, w.handshake_done,
            w.certificate_valid, list(e.differs), e.control_observation_id, version,
            classified_at)


def judge_web(db: Database, fps: HttpFingerprintSet, items: Sequence[StoredWeb], *,
              window_us: int = DEFAULT_WINDOW_US) -> list[tuple[Any, ...]]:
    """Web verdict rows for `items` (rules, context, strength); no writing."""
    if not items:
        return []
    loader = ContextLoader(db, fps, window_us)
    loader.load(items)
    judged = loader.strengthen([(s, loader.raw(s.web)) for s in items])
    version, now = web_classifier_version(fps), dt.datetime.now(dt.UTC)
    return [web_verdict_row(s, v, version, now) for s, v in judged]


def _write(db: Database, fps: HttpFingerprintSet, where: str, params: dict[str, Any],
           window_us: int) -> WrittenWeb:
    """Judge and write the follow-ups matching `where` that have no verdict yet."""
    items = _latest(db.rows(f"{_SELECT} WHERE {where}{_LATEST}", params))
    if not items:
        return WrittenWeb(0, 0)
    span = _span(items, 0)
    done = {str(r[0]) for r in db.rows(
        f"SELECT toString(observation_id) FROM web_verdicts WHERE {_WHEN} AND "
        "observation_id IN {ids:Array(UUID)}",
        {**span, "ids": [s.web.observation_id for s in items]})}
    todo = [s for s in items if s.web.observation_id not in done]
    rows = judge_web(db, fps, todo, window_us=window_us)
    late = late_follow_ups(db, todo)
    db.insert("web_verdicts", (*WEB_VERDICT_COLUMNS, "late"),
              [(*row, s.web.observation_id in late) for s, row in zip(todo, rows, strict=True)])
    if len(todo) < len(items):
        log.warning("event=web_duplicates_not_reclassified observations=%d",
                    len(items) - len(todo))
    if late:
        days = sorted({_ts(s.web.started_at_us).date().isoformat() for s in todo
                       if s.web.observation_id in late})
        log.warning("event=late_follow_ups observations=%d since=%s (arrived after their DNS "
                    "measurements' site verdicts: run reclassify --since %s)", len(late),
                    days[0], days[0])
    return WrittenWeb(len(rows), len(late))


@dataclass(frozen=True, slots=True)
class WrittenWeb:
    observations: int
    late: int


def late_follow_ups(db: Database, items: Sequence[StoredWeb]) -> set[str]:
    """Follow-ups one of whose DNS measurements already has a site verdict that
    does not list them: they arrived after that measurement's web_settle_s, and
    its site verdict is written without them (until a reclassify)."""
    mids = sorted({m for s in items for m in s.dns_measurement_ids})
    if not mids:
        return set()
    starts = [s.web.started_at_us for s in items]
    listed: dict[str, set[str]] = {}
    for mid, oids in db.rows(
            "SELECT toString(measurement_id), arrayMap(i -> toString(i), web_observation_ids) "
            "FROM site_verdicts WHERE started_at BETWEEN fromUnixTimestamp64Micro({lo:Int64}, "
            "'UTC') AND fromUnixTimestamp64Micro({hi:Int64}, 'UTC') AND measurement_id IN "
            "{ids:Array(UUID)} ORDER BY classified_at DESC LIMIT 1 BY measurement_id",
            {"lo": min(starts) - FOLLOW_UP_SPAN_US, "hi": max(starts), "ids": mids}):
        listed[str(mid)] = set(oids)
    return {s.web.observation_id for s in items
            if any(m in listed and s.web.observation_id not in listed[m]
                   for m in s.dns_measurement_ids)}


def web_watermark_us(db: Database) -> int:
    return newest_received_us(db, "web_verdicts")


@dataclass(frozen=True, slots=True)
class WebPass:
    observations: int
    frontier_us: int     # every follow-up received up to here has a verdict
    late: int = 0        # of those written, arrived after their site verdicts


def store_pending_web_verdicts(db: Database, fps: HttpFingerprintSet, *, settle_s: float,
                               now_us: int, window_us: int = DEFAULT_WINDOW_US,
                               max_rows: int = WEB_CHUNK_ROWS, floor_us: int = 0) -> WebPass:
    """Web verdicts for follow-ups received after the web watermark and at
    least `settle_s` ago: at most about `max_rows` per call, whole insert groups
    (rows sharing a received_at are never split). `frontier_us` tells the site
    pass how far web verdicts are complete."""
    low = max(web_watermark_us(db), floor_us)
    cutoff = now_us - int(settle_s * 1e6)
    if cutoff <= low:
        return WebPass(0, cutoff)
    pending = ("received_at > fromUnixTimestamp64Micro({low:Int64}, 'UTC') AND "
               "received_at <= fromUnixTimestamp64Micro({cutoff:Int64}, 'UTC')")
    n = late = 0
    while True:
        params: dict[str, Any] = {"low": low, "cutoff": cutoff, "offset": max_rows}
        edge = db.rows("SELECT toUnixTimestamp64Micro(received_at) FROM web_observations "
                       f"WHERE {pending} ORDER BY received_at LIMIT 1 OFFSET {{offset:UInt64}}",
                       params)
        if edge:
            params["cutoff"] = int(edge[0][0])
        written = _write(db, fps, pending, params, window_us)
        n, late = written.observations, written.late
        # A chunk of nothing but copies already judged: step over it here, or
        # the watermark would never pass it.
        if n or not edge:
            break
        low = params["cutoff"]
    if n:
        log.info("event=web_classified observations=%d version=%s", n,
                 web_classifier_version(fps))
    # Short of the cutoff (more than max_rows pending): complete up to the edge.
    return WebPass(n, params["cutoff"], late)


def web_reclassify_chunk(db: Database, fps: HttpFingerprintSet, day: dt.date, mark_us: int,
                         chunk: tuple[int, int], *, window_us: int = DEFAULT_WINDOW_US,
                         max_rows: int = WEB_CHUNK_ROWS) -> int:
    """Write the web verdicts of one planned [lo, hi) µs chunk of started_at,
    at most about `max_rows` follow-ups in memory at a time (an hour of a
    large deployment holds many more)."""
    base = ("toDate(started_at) >= {day:Date} AND received_at <= "
            "fromUnixTimestamp64Micro({mark:Int64}, 'UTC') AND started_at >= "
            "fromUnixTimestamp64Micro({clo:Int64}, 'UTC') AND started_at < "
            "fromUnixTimestamp64Micro({chi:Int64}, 'UTC')")
    total, lo = 0, chunk[0]
    while lo < chunk[1]:
        params: dict[str, Any] = {"day": day, "mark": mark_us, "clo": lo, "chi": chunk[1],
                                  "offset": max_rows}
        edge = db.rows("SELECT toUnixTimestamp64Micro(started_at) FROM web_observations "
                       f"WHERE {base} ORDER BY started_at LIMIT 1 OFFSET {{offset:UInt64}}",
                       params)
        # [lo, edge) holds max_rows follow-ups at most; all sharing one instant go together
        hi = max(int(edge[0][0]), lo + 1) if edge else chunk[1]
        total += _write(db, fps, base, {**params, "chi": hi}, window_us).observations
        lo = hi
    return total
