"""The probe's durable spool: SQLite in WAL mode.

Every measurement is committed here before it is offered to the collector and
is deleted only when the collector acknowledges its batch. Batch membership is
written down too, so after a crash the same batch goes out again under the same
id and the collector can recognise a retry.

Durability: WAL with synchronous=NORMAL survives the process being killed at
any point (kill -9, OOM); `fsync = True` also survives a power cut, at the
price of an fsync per commit. A WAL damaged anyway (power cut without fsync,
a bad disk) loses its tail silently in SQLite; the spool counts what went
(spoolfiles.HighWater) and says so at open.

A full disk: the spool gives up a reserve it holds on its filesystem so
delivery can go on (acks free space inside the database), raises DiskFullError
for new measurements, and `recover()` tells when space is back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from blockwatch.probe.errors import DiskFullError, SpoolError, SpoolFullError
from blockwatch.probe.ids import uuid7
from blockwatch.probe.spoolfiles import HighWater, Reserve

log = logging.getLogger(__name__)

RESERVE_BYTES = 512 << 10
RESUME_BYTES = 256 << 10   # free besides the reserve before new rounds resume
# A WAL larger than the reserve could not be checkpointed on a full disk (the
# database file must grow by up to the WAL's size): checkpoint every 100 pages.
_WAL_PAGES = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    payload  BLOB NOT NULL,      -- one serialized blockwatch.v1.Measurement (kind 0)
    batch_id TEXT,               -- fixed once the row is put in a batch
    kind     INTEGER NOT NULL DEFAULT 0  -- 0 DNS measurement, 1 web observation (WebObservation)
);
CREATE INDEX IF NOT EXISTS measurements_batch ON measurements(batch_id);
CREATE TABLE IF NOT EXISTS rejected (
    seq         INTEGER PRIMARY KEY,
    batch_id    TEXT NOT NULL,
    payload     BLOB NOT NULL,
    reason      TEXT NOT NULL,
    rejected_at REAL NOT NULL,
    kind        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS task_failures (
    task       TEXT PRIMARY KEY,
    failures   INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    last_at    REAL NOT NULL
);
"""


MEASUREMENT = 0   # a row's kind: one serialized blockwatch.v1.Measurement
WEB = 1           # one serialized blockwatch.v1.WebObservation


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """A batch may carry both kinds; each row keeps its kind, so one batch id and
    one ack cover them all (exactly-once per row as for measurements alone)."""

    batch_id: str
    payloads: list[bytes]
    web_payloads: list[bytes] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.payloads) + len(self.web_payloads)


@dataclass(frozen=True, slots=True)
class SpoolStats:
    pending: int
    batched: int
    bytes: int
    dropped: int
    rejected: int
    too_large: int = 0    # set aside: alone over the collector's message limit
    lost: int = 0         # committed, then gone with a damaged WAL (found at open)


class Spool:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 0,
        on_full: Literal["pause", "drop-oldest"] = "pause",
        fsync: bool = False,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.on_full = on_full
        self.disk_full = False
        self._reserve = Reserve(path.with_name(path.name + "-reserve"), RESERVE_BYTES)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not path.exists()
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # only a new database takes it: lets a drained spool give disk space back
            self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("PRAGMA cache_size=-512")  # KiB: the spool is written, rarely read
            self._db.execute(f"PRAGMA wal_autocheckpoint={_WAL_PAGES}")
            self._db.execute(f"PRAGMA journal_size_limit={RESERVE_BYTES}")
            self._db.executescript(_SCHEMA)
            _add_kind_columns(self._db)
            row = self._db.execute("SELECT COALESCE(SUM(length(payload)), 0) FROM measurements")
            self._bytes = int(row.fetchone()[0])
            self._high_water = HighWater(path.with_name(path.name + "-seq"))
            self._check_high_water(fresh)
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool {path}: {exc}") from exc
        except OSError as exc:
            raise SpoolError(f"cannot open spool {path}: {exc.strerror}") from exc
        if not self._reserve.take():
            log.warning("spool %s: no room for its %d KiB reserve; a full disk would stop "
                        "delivery too", path, RESERVE_BYTES >> 10)

    def close(self) -> None:
        self._db.close()
        self._high_water.close()

    def _last_seq(self) -> int:
        row = self._db.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'measurements'").fetchone()
        return int(row[0]) if row else 0

    def _check_high_water(self, fresh: bool) -> None:
        """Committed measurements missing at open: a damaged WAL lost its tail."""
        readable = self._last_seq()
        mark = None if fresh else self._high_water.read()
        if mark is not None and mark > readable:
            lost = mark - readable
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._bump("lost", lost)
                # keep sequence numbers monotonic: seq counts every measurement ever
                self._db.execute(
                    "INSERT OR REPLACE INTO sqlite_sequence(name, seq) VALUES ('measurements', ?)",
                    (mark,))
            log.error(
                "SPOOL DAMAGE: %s lost %d committed measurements (seq %d..%d): the tail of "
                "its write-ahead log was cut or damaged (power cut, disk fault); %d "
                "measurements still waiting are kept. Set [spool] fsync = true to survive "
                "power cuts", self.path, lost, readable + 1, mark, self.pending())
        self._high_water.write(max(readable, mark or 0))

    def _fail(self, exc: sqlite3.Error, what: str) -> SpoolError:
        """The error to raise for a failed statement; a full disk also gives up the
        reserve, so what frees space (acks, checkpoints) can still be written."""
        self._rollback()
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            return SpoolError(f"cannot {what} spool {self.path}: {exc}")
        first = not self.disk_full
        self.disk_full = True
        free = _free_bytes(self.path)
        if self._reserve.held:
            self._reserve.release()
        if first:
            log.error("DISK FULL: spool %s cannot grow (%d bytes free on its filesystem): "
                      "no new round until space returns; delivery goes on (its %d KiB "
                      "reserve was released for it)", self.path, free, RESERVE_BYTES >> 10)
        return DiskFullError(f"no space left for spool {self.path}: {exc}")

    def recover(self) -> bool:
        """After a full disk: True once the spool can take new measurements again
        (its reserve could be taken back). Gives space that delivery freed inside
        the database back to the filesystem first."""
        if not self.disk_full:
            return True
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA incremental_vacuum")
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        # the reserve back, and room for a round beside it: no flapping at the edge
        if not self._reserve.take() or _free_bytes(self.path) < RESUME_BYTES:
            return False
        self.disk_full = False
        log.warning("spool %s: disk space is back (%d bytes free); new rounds resume",
                    self.path, _free_bytes(self.path))
        return True

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def add(self, payloads: list[bytes], web: list[bytes] | None = None) -> None:
        """Commit measurements (and `web` observations) in one transaction. With
        on_full="drop-oldest" a bounded spool first drops its oldest unbatched rows
        (loudly); with "pause" the write always succeeds and `is_full` tells the
        agent to start no new round."""
        rows = [(p, MEASUREMENT) for p in payloads] + [(p, WEB) for p in web or ()]
        if not rows:
            return
        incoming = sum(len(p) for p, _ in rows)
        try:
            self._insert(rows, incoming, 0)
        except sqlite3.Error as exc:
            error = self._fail(exc, "write")
            if not isinstance(error, DiskFullError) or self.on_full != "drop-oldest":
                raise error from exc
            try:   # drop-oldest on a full disk: make room among our own rows
                self._insert(rows, incoming, incoming)
            except sqlite3.Error as again:
                raise self._fail(again, "write") from again
        self._bytes += incoming

    def _insert(self, rows: list[tuple[bytes, int]], incoming: int, room: int) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        if room:
            self._make_room(room)
        elif (self.on_full == "drop-oldest" and self.max_bytes
                and self._bytes + incoming > self.max_bytes):
            self._make_room(self._bytes + incoming - self.max_bytes)
        self._db.executemany("INSERT INTO measurements(payload, kind) VALUES (?, ?)", rows)
        seq = self._last_seq()
        self._db.execute("COMMIT")
        self._high_water.write(seq)

    def is_full(self) -> bool:
        return bool(self.max_bytes) and self._bytes >= self.max_bytes

    def check_room(self) -> None:
        """Raise SpoolFullError when a paused, bounded spool is full."""
        if self.on_full == "pause" and self.is_full():
            raise SpoolFullError(
                f"spool {self.path} holds {self._bytes} bytes, bound is {self.max_bytes}: "
                "no new round until the collector takes some"
            )

    def _make_room(self, need: int) -> None:
        freed = dropped = 0
        # Oldest first, but never rows of a batch that may be on the wire now.
        rows = self._db.execute(
            "SELECT seq, length(payload) FROM measurements WHERE batch_id IS NULL ORDER BY seq"
        )
        victims: list[int] = []
        for seq, size in rows:
            if freed >= need:
                break
            victims.append(seq)
            freed += size
            dropped += 1
        self._db.executemany("DELETE FROM measurements WHERE seq = ?", [(s,) for s in victims])
        self._bump("dropped", dropped)
        self._bytes -= freed
        log.error(
            "SPOOL FULL: dropped %d oldest measurements (%d bytes) from %s to %s; the "
            "collector has not taken them", dropped, freed, self.path,
            "make room on a full disk" if self.disk_full
            else f"stay under {self.max_bytes} bytes")

    def next_batch(self, max_items: int, exclude: set[str] | frozenset[str] = frozenset(),
                   *, max_bytes: int = 0) -> SpooledBatch | None:
        """The oldest batch not in `exclude`; forms a new one from unbatched rows if
        needed, of at most `max_items` rows and `max_bytes` payload bytes (0: no bound;
        a single row larger than the bound still forms a batch of one).

        A batch once formed keeps its id and content, whatever the bounds are now:
        it may have reached the collector already, and only the same id lets the
        collector recognise a replay. Only `release` re-forms one."""
        try:
            placeholders = ",".join("?" * len(exclude))
            query = "SELECT batch_id FROM measurements WHERE batch_id IS NOT NULL"
            if exclude:
                query += f" AND batch_id NOT IN ({placeholders})"
            row = self._db.execute(query + " ORDER BY seq LIMIT 1", tuple(exclude)).fetchone()
            if row is not None:
                return self._load(row[0])
            self._db.execute("BEGIN IMMEDIATE")
            seqs: list[int] = []
            total = 0
            for seq, size in self._db.execute(
                    "SELECT seq, length(payload) FROM measurements WHERE batch_id IS NULL "
                    "ORDER BY seq LIMIT ?", (max_items,)):
                if seqs and max_bytes and total + size > max_bytes:
                    break
                seqs.append(seq)
                total += size
            if not seqs:
                self._db.execute("COMMIT")
                return None
            batch_id = str(uuid7())
            self._db.execute(
                "UPDATE measurements SET batch_id = ? "
                "WHERE batch_id IS NULL AND seq BETWEEN ? AND ?",
                (batch_id, seqs[0], seqs[-1]))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._fail(exc, "read") from exc
        return self._load(batch_id)

    def release(self, batch_id: str) -> int:
        """Dissolve a batch the collector can never have stored (refused as too large),
        so its rows are formed into smaller batches under new ids. Returns rows freed."""
        try:
            freed = self._db.execute(
                "UPDATE measurements SET batch_id = NULL WHERE batch_id = ?", (batch_id,)
            ).rowcount
        except sqlite3.Error as exc:
            raise self._fail(exc, "update") from exc
        return int(freed)

    def _load(self, batch_id: str) -> SpooledBatch:
        batch = SpooledBatch(batch_id, [])
        for payload, kind in self._db.execute(
                "SELECT payload, kind FROM measurements WHERE batch_id = ? ORDER BY seq",
                (batch_id,)):
            (batch.web_payloads if kind == WEB else batch.payloads).append(payload)
        return batch

    def acknowledge(self, batch_id: str) -> int:
        """The collector stored the batch: forget it. Returns rows removed."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            size = self._db.execute(
                "SELECT COALESCE(SUM(length(payload)), 0) FROM measurements WHERE batch_id = ?",
                (batch_id,)).fetchone()[0]
            removed = self._db.execute("DELETE FROM measurements WHERE batch_id = ?",
                                       (batch_id,)).rowcount
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._fail(exc, "update") from exc
        self._bytes -= int(size)
        return int(removed)

    def reject(self, batch_id: str, reason: str, *, too_large: bool = False) -> int:
        """The collector refused the batch as invalid (or it can never fit in one
        message: `too_large`, counted apart): keep it aside for inspection, out of
        the upload queue, never silently gone."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            size = self._db.execute(
                "SELECT COALESCE(SUM(length(payload)), 0) FROM measurements WHERE batch_id = ?",
                (batch_id,)).fetchone()[0]
            self._db.execute(
                "INSERT OR REPLACE INTO rejected(seq, batch_id, payload, reason, rejected_at, "
                "kind) SELECT seq, batch_id, payload, ?, ?, kind FROM measurements "
                "WHERE batch_id = ?",
                (reason, time.time(), batch_id))
            moved = self._db.execute("DELETE FROM measurements WHERE batch_id = ?",
                                     (batch_id,)).rowcount
            if too_large:
                self._bump("too_large", moved)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._fail(exc, "update") from exc
        self._bytes -= int(size)
        return int(moved)

    def stats(self) -> SpoolStats:
        pending, batched = self._db.execute(
            "SELECT COUNT(*), COUNT(batch_id) FROM measurements").fetchone()
        rejected = self._db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
        return SpoolStats(int(pending), int(batched), self._bytes, self._counter("dropped"),
                          int(rejected), self._counter("too_large"), self._counter("lost"))

    def record_task_failure(self, task: str, error: str) -> None:
        """A supervised task of the probe failed: kept for `blockwatch-probe check`."""
        try:
            self._db.execute(
                "INSERT INTO task_failures(task, failures, last_error, last_at) "
                "VALUES (?, 1, ?, ?) ON CONFLICT(task) DO UPDATE SET "
                "failures = failures + 1, last_error = excluded.last_error, "
                "last_at = excluded.last_at", (task, error[:2000], time.time()))
        except sqlite3.Error as exc:
            raise self._fail(exc, "update") from exc

    def task_failures(self) -> list[tuple[str, int, str, float]]:
        """(task, failures, last error, when) for every task that ever failed."""
        return [(str(t), int(n), str(e), float(w)) for t, n, e, w in self._db.execute(
            "SELECT task, failures, last_error, last_at FROM task_failures ORDER BY task")]

    def pending(self) -> int:
        """Rows waiting for an ack, of both kinds."""
        return int(self._db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])

    def pending_web(self) -> int:
        return int(self._db.execute(
            "SELECT COUNT(*) FROM measurements WHERE kind = ?", (WEB,)).fetchone()[0])

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (name, by))

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")


def _add_kind_columns(db: sqlite3.Connection) -> None:
    """A spool written before web observations existed: its rows are all measurements."""
    for table in ("measurements", "rejected"):
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if "kind" not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN kind INTEGER NOT NULL DEFAULT 0")


def _free_bytes(path: Path) -> int:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return -1
    return st.f_bavail * st.f_frsize
