"""Mirror discovery as a supervised collector step (issue 14): read the facts
from ClickHouse, derive candidates (candidates.py), store them with their
evidence in `mirror_candidates`, mirror the registry's rejections into
`candidate_rejections`, and keep the names probes should measure next.

Runs on the collector's analysis lane (lane.py: its own engine client and
thread, shared with classification), so it should stay short: reads are
aggregated in SQL and incremental. The state keeps every distinct fact seen (evidence is "seen at
least once", with its earliest sighting); a pass reads only web observations
received and verdicts classified since the last pass's high-water mark (less
an overlap: merging a fact twice changes nothing), plus the whole history of
names it has not asked about before (a newly listed domain, a new variant).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from blockwatch.collector.candidates import (
    AddressFact,
    Candidate,
    WebFact,
    derive,
    listed_domains,
    to_measure,
)
from blockwatch.collector.mirrornames import cdn_networks, variants
from blockwatch.collector.orders import OrderSet
from blockwatch.contract.vocabulary import Purpose

log = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Re-read this much before the high-water marks: inserts of other collectors
# (a cluster) or in flight may carry slightly older stamps.
OVERLAP = dt.timedelta(minutes=5)

_WEB = """
SELECT name, probe_control, status,
    arrayElement(`headers.value`, indexOf(`headers.name`, 'location')) AS location,
    redirect_location, cert_sans, cert_sha256, name_matches, title, body_sha256,
    min(started_at) AS first_seen, argMin(probe_name, started_at) AS probe,
    argMin(toString(observation_id), started_at) AS observation,
    max(received_at) AS mark
FROM web_observations
WHERE name IN {fresh:Array(String)}
   OR (name IN {known:Array(String)} AND received_at > {since:DateTime64(6, 'UTC')})
GROUP BY name, probe_control, status, location, redirect_location, cert_sans, cert_sha256,
    name_matches, title, body_sha256
"""

# the measurements of listed domains and of candidates, as the SQL filters them
_MEASURED = f"('{Purpose.TARGET.label}', '{Purpose.CANDIDATE.label}')"

# Addresses the names resolved to where the classifier saw no block.
_ADDRESSES = """
SELECT domain, address, min(started_at) AS first_seen,
    argMin(probe_name, started_at) AS probe,
    argMin(toString(measurement_id), started_at) AS measurement,
    max(classified_at) AS mark
FROM verdicts
ARRAY JOIN answer AS address
WHERE verdict = 'ok' AND purpose IN """ + _MEASURED + """
  AND classified_at > {since:DateTime64(6, 'UTC')}
GROUP BY domain, address
"""

_CANDIDATE_COLUMNS = ("order_id", "site", "candidate", "source", "listed_domain", "evidence",
                      "probe_name", "observation_id", "first_seen", "derived_at")
# JSON lines in, typed columns out (times as text: the structure is a quoted literal)
_STRUCTURE = ("order_id String, site String, candidate String, source String, "
              "listed_domain String, evidence String, probe_name String, "
              "observation_id String, first_seen String, derived_at String")
_SELECT = ("order_id, site, candidate, source, listed_domain, evidence, probe_name, "
           "observation_id, toDateTime64(first_seen, 6, 'UTC'), "
           "toDateTime64(derived_at, 6, 'UTC')")


class Db(Protocol):
    """What a pass needs of the store (the collector's Store, or a test's
    ClickHouseDatabase)."""

    cluster: str

    def rows(self, sql: str, parameters: dict[str, Any] | None = None
             ) -> Sequence[tuple[Any, ...]]: ...

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None: ...


@dataclass(slots=True)
class DiscoveryState:
    """What the last pass found; the assignment reads `measure`."""

    measure: list[tuple[str, str]] = field(default_factory=list)   # (domain, site)
    derived: int = 0          # how many of `measure`, first, were derived (not generated)
    candidates: list[Candidate] = field(default_factory=list)
    passes: int = 0
    web: dict[tuple[object, ...], WebFact] = field(default_factory=dict)
    addresses: dict[tuple[str, str], AddressFact] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)       # names whose history was read
    web_mark: dt.datetime = EPOCH                      # newest received_at read
    verdict_mark: dt.datetime = EPOCH                  # newest classified_at read
    rejected: list[tuple[str, str, dt.date]] | None = None   # as last written

    def merge_web(self, fact: WebFact) -> None:
        key = (fact.name, fact.control, fact.status, fact.location, fact.redirects,
               fact.sans, fact.cert_sha256, fact.name_matches, fact.title, fact.body_sha256)
        old = self.web.get(key)
        if old is None or fact.first_seen < old.first_seen:
            self.web[key] = fact

    def merge_address(self, fact: AddressFact) -> None:
        old = self.addresses.get((fact.name, fact.address))
        if old is None or fact.first_seen < old.first_seen:
            self.addresses[fact.name, fact.address] = fact


def _time(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value))


def read_facts(store: Db, names: Sequence[str], state: DiscoveryState) -> None:
    """Merge into `state` what arrived since its marks, and the history of new names."""
    fresh = sorted(set(names) - state.names)
    known = sorted(set(names) & state.names)
    for r in store.rows(_WEB, {"fresh": fresh, "known": known,
                               "since": state.web_mark - OVERLAP}):
        state.merge_web(WebFact(
            str(r[0]), bool(r[1]), int(str(r[2])), str(r[3]), tuple(str(x) for x in r[4]),
            tuple(str(x) for x in r[5]), str(r[6]), bool(r[7]), str(r[8]), str(r[9]),
            _time(r[10]), str(r[11]), str(r[12])))
        state.web_mark = max(state.web_mark, _time(r[13]))
    for r in store.rows(_ADDRESSES, {"since": state.verdict_mark - OVERLAP}):
        state.merge_address(AddressFact(str(r[0]), str(r[1]), _time(r[2]), str(r[3]),
                                        str(r[4])))
        state.verdict_mark = max(state.verdict_mark, _time(r[5]))
    state.names.update(fresh)


def store_candidates(store: Db, found: Sequence[Candidate], now: dt.datetime) -> None:
    if not found:
        return
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    lines = "\n".join(json.dumps({
        "order_id": c.order_id, "site": c.site, "candidate": c.candidate, "source": c.source,
        "listed_domain": c.listed_domain, "evidence": c.evidence, "probe_name": c.probe_name,
        "observation_id": c.observation_id,
        "first_seen": c.first_seen.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "derived_at": stamp}) for c in found)
    # One parameter carrying JSON lines: the same statement on chDB and a server.
    columns = ", ".join(_CANDIDATE_COLUMNS)
    store.command(f"INSERT INTO mirror_candidates ({columns}) SELECT {_SELECT} "
                  f"FROM format(JSONEachRow, '{_STRUCTURE}', {{rows:String}})", {"rows": lines})


def store_rejections(store: Db, rejected: Sequence[tuple[str, str, dt.date]]) -> None:
    """The registry's rejections, all of them (a small table: replaced whole)."""
    store.command("TRUNCATE TABLE IF EXISTS candidate_rejections"
                  + (f" ON CLUSTER {store.cluster}" if store.cluster else ""))
    if rejected:
        lines = "\n".join(json.dumps({"order_id": o, "domain": d, "rejected_on": day.isoformat()})
                          for o, d, day in rejected)
        store.command("INSERT INTO candidate_rejections (order_id, domain, rejected_on) "
                      "SELECT order_id, domain, rejected_on FROM format(JSONEachRow, "
                      "'order_id String, domain String, rejected_on Date', {rows:String})",
                      {"rows": lines})


def discover(store: Db, orders: OrderSet, rejected: Sequence[tuple[str, str, dt.date]],
             state: DiscoveryState, now: dt.datetime | None = None) -> list[Candidate]:
    """One pass: facts -> candidates -> stored; `state` updated for assignments."""
    now = now or dt.datetime.now(dt.UTC)
    listed = listed_domains(orders)
    pairs = {(o, d) for o, d, _ in rejected}
    names = {x.domain for x in listed}
    names |= {v for x in listed for v in variants(x.domain)}
    read_facts(store, sorted(names), state)
    found = derive(listed, list(state.web.values()), list(state.addresses.values()), pairs,
                   cdn_networks())
    # written when they change only: a pass a minute must not pile up rows
    if list(rejected) != state.rejected:
        store_rejections(store, rejected)
        state.rejected = list(rejected)
    before = set(state.candidates)
    store_candidates(store, [c for c in found if c not in before], now)
    state.candidates = found
    state.measure = to_measure(orders, found, pairs)
    state.derived = len({c.candidate for c in found})
    state.passes += 1
    log.info("event=mirror_candidates candidates=%d measure=%d rejected=%d", len(found),
             len(state.measure), len(rejected))
    return found
