"""The registry of probes, analysts and orders: a SQLite file (WAL) beside the
database.

Not ClickHouse: the embedded engine lets one process open a database path, and
`blockwatch-collector probes add` / `targets import` must work while the
collector serves (Ansible registers probes against a running collector).
SQLite in WAL mode lets the CLI write while the collector reads; the collector
notices commits by other connections through `PRAGMA data_version` and drops
its token cache, so new probes work and revocations bite without a restart.

Tokens are 32 random bytes (urlsafe base64), shown once, stored as SHA-256.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blockwatch.collector.errors import PrincipalExists, RegistryError, UnknownPrincipal
from blockwatch.collector.orders import Intermediary, Order, OrderDomain, OrderSet, Site
from blockwatch.schema.principals import TOKEN_PREFIX, Role, hash_token

_SCHEMA = """
CREATE TABLE IF NOT EXISTS principals (
    role         TEXT NOT NULL CHECK (role IN ('probe', 'analyst')),
    name         TEXT NOT NULL,
    country      TEXT NOT NULL DEFAULT '',
    asn          INTEGER NOT NULL DEFAULT 0,
    control      INTEGER NOT NULL DEFAULT 0,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   REAL NOT NULL,
    rotated_at   REAL,
    revoked_at   REAL,
    PRIMARY KEY (role, name)
);
CREATE TABLE IF NOT EXISTS probe_stats (
    name         TEXT PRIMARY KEY,
    last_seen    REAL,
    batches      INTEGER NOT NULL DEFAULT 0,
    measurements INTEGER NOT NULL DEFAULT 0,
    rejected     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS orders (
    order_id     TEXT PRIMARY KEY,
    body         TEXT NOT NULL,      -- canonical JSON of the order
    imported_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS control_domains (domain TEXT PRIMARY KEY);
-- mirror candidates an analyst approved (issue 14): folded into their order by
-- orders(), kept apart so re-importing the order file does not drop them
CREATE TABLE IF NOT EXISTS approved_mirrors (
    order_id     TEXT NOT NULL,
    site         TEXT NOT NULL,
    domain       TEXT NOT NULL,
    added        TEXT NOT NULL,      -- YYYY-MM-DD
    PRIMARY KEY (order_id, domain)
);
-- mirror candidates an analyst rejected (issue 14): never proposed again
CREATE TABLE IF NOT EXISTS candidate_rejections (
    order_id     TEXT NOT NULL,
    domain       TEXT NOT NULL,
    rejected_on  TEXT NOT NULL,      -- YYYY-MM-DD
    PRIMARY KEY (order_id, domain)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    name: str
    country: str = ""
    asn: int = 0
    control: bool = False


@dataclass(frozen=True, slots=True)
class ProbeRow:
    name: str
    country: str
    asn: int
    control: bool
    created_at: float
    revoked_at: float | None
    last_seen: float | None
    batches: int
    measurements: int
    rejected: int
    last_error: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    orders_added: int
    orders_changed: int
    orders_unchanged: int
    control_domains_added: int

    @property
    def changed(self) -> bool:
        return bool(self.orders_added or self.orders_changed or self.control_domains_added)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class Registry:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise RegistryError(f"cannot open registry {path}: {exc}") from exc
        self._cache: dict[str, Principal | None] = {}
        self._version = -1

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise RegistryError(f"registry {self.path}: {exc}") from exc
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def data_version(self) -> int:
        """Changes whenever another connection committed (cheap: no disk read)."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _fresh(self) -> None:
        version = self.data_version()
        if version != self._version:
            self._cache.clear()
            self._version = version

    # -- principals -------------------------------------------------------------

    def add(self, role: Role, name: str, *, country: str = "", asn: int = 0,
            control: bool = False, rotate: bool = False) -> str:
        """Register (or with rotate, re-key) a principal; returns the new token."""
        token = new_token()
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT revoked_at FROM principals WHERE role = ? AND name = ?",
                             (role, name)).fetchone()
            if row is not None and row[0] is None and not rotate:
                raise PrincipalExists(name)
            if row is not None and rotate is False and row[0] is not None:
                rotate = True   # a revoked name may be registered again
            if row is None:
                db.execute("INSERT INTO principals(role, name, country, asn, control, "
                           "token_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (role, name, country, asn, int(control), hash_token(token), now))
            else:
                db.execute("UPDATE principals SET country = ?, asn = ?, control = ?, "
                           "token_sha256 = ?, rotated_at = ?, revoked_at = NULL "
                           "WHERE role = ? AND name = ?",
                           (country, asn, int(control), hash_token(token), now, role, name))
        self._cache.clear()
        return token

    def update(self, role: Role, name: str, *, country: str | None = None,
               asn: int | None = None, control: bool | None = None) -> None:
        """Correct an active principal's registration; its token stays valid."""
        with self._transaction() as db:
            row = db.execute("SELECT country, asn, control FROM principals WHERE role = ? AND "
                             "name = ? AND revoked_at IS NULL", (role, name)).fetchone()
            if row is None:
                raise UnknownPrincipal(name)
            db.execute("UPDATE principals SET country = ?, asn = ?, control = ? "
                       "WHERE role = ? AND name = ?",
                       (row[0] if country is None else country, row[1] if asn is None else asn,
                        row[2] if control is None else int(control), role, name))
        self._cache.clear()  # authenticated principals carry country and ASN

    def revoke(self, role: Role, name: str) -> None:
        with self._transaction() as db:
            changed = db.execute("UPDATE principals SET revoked_at = ? WHERE role = ? AND "
                                 "name = ? AND revoked_at IS NULL",
                                 (time.time(), role, name)).rowcount
            if not changed:
                raise UnknownPrincipal(name)
        self._cache.clear()

    def authenticate(self, token: str) -> Principal | None:
        """The active principal holding this token, or None."""
        self._fresh()
        digest = hash_token(token)
        if digest in self._cache:
            return self._cache[digest]
        row = self._db.execute(
            "SELECT role, name, country, asn, control FROM principals "
            "WHERE token_sha256 = ? AND revoked_at IS NULL", (digest,)).fetchone()
        principal = _principal(row)
        if len(self._cache) > 10_000:   # bound memory against a flood of bad tokens
            self._cache.clear()
        self._cache[digest] = principal
        return principal

    def lookup(self, role: Role, name: str) -> Principal | None:
        """The active principal of this name (mTLS: the certificate names it)."""
        self._fresh()
        key = f"name:{role}:{name}"
        if key in self._cache:
            return self._cache[key]
        row = self._db.execute(
            "SELECT role, name, country, asn, control FROM principals "
            "WHERE role = ? AND name = ? AND revoked_at IS NULL", (role, name)).fetchone()
        self._cache[key] = principal = _principal(row)
        return principal

    def probes(self, role: Role = "probe") -> list[ProbeRow]:
        rows = self._db.execute(
            "SELECT p.name, p.country, p.asn, p.control, p.created_at, p.revoked_at, "
            "s.last_seen, COALESCE(s.batches, 0), COALESCE(s.measurements, 0), "
            "COALESCE(s.rejected, 0), COALESCE(s.last_error, '') FROM principals p "
            "LEFT JOIN probe_stats s ON s.name = p.name WHERE p.role = ? ORDER BY p.name",
            (role,))
        return [ProbeRow(r[0], r[1], int(r[2]), bool(r[3]), float(r[4]), r[5], r[6],
                         int(r[7]), int(r[8]), int(r[9]), r[10]) for r in rows]

    def record_activity(self, stats: dict[str, tuple[float, int, int, int, str]]) -> None:
        """Fold per-probe counters (last seen, batches, measurements, rejected,
        last error) gathered in memory since the last flush."""
        if not stats:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO probe_stats(name, last_seen, batches, measurements, rejected, "
                "last_error) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "last_seen = MAX(COALESCE(last_seen, 0), excluded.last_seen), "
                "batches = batches + excluded.batches, "
                "measurements = measurements + excluded.measurements, "
                "rejected = rejected + excluded.rejected, "
                "last_error = CASE WHEN excluded.last_error = '' THEN last_error "
                "ELSE excluded.last_error END",
                [(name, *values) for name, values in stats.items()])
        # Our own commit also moves data_version for *other* connections only.

    # -- orders -------------------------------------------------------------------

    def import_orders(self, orders: OrderSet) -> ImportResult:
        """Upsert every order of the file and add its control domains, in one
        transaction: a failure leaves the registry as it was."""
        added = changed = unchanged = 0
        now = time.time()
        with self._transaction() as db:
            for order in orders.orders:
                body = json.dumps(_order_json(order), sort_keys=True)
                row = db.execute("SELECT body FROM orders WHERE order_id = ?",
                                 (order.order_id,)).fetchone()
                if row is None:
                    added += 1
                elif row[0] == body:
                    unchanged += 1
                    continue
                else:
                    changed += 1
                db.execute("INSERT INTO orders(order_id, body, imported_at) VALUES (?, ?, ?) "
                           "ON CONFLICT(order_id) DO UPDATE SET body = excluded.body, "
                           "imported_at = excluded.imported_at", (order.order_id, body, now))
            before = db.execute("SELECT COUNT(*) FROM control_domains").fetchone()[0]
            db.executemany("INSERT OR IGNORE INTO control_domains(domain) VALUES (?)",
                           [(d,) for d in orders.control_domains])
            controls = db.execute("SELECT COUNT(*) FROM control_domains").fetchone()[0] - before
            if added or changed or controls:
                db.execute("INSERT INTO meta(key, value) VALUES ('orders_version', '1') "
                           "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")
        return ImportResult(added, changed, unchanged, int(controls))

    def orders(self) -> OrderSet:
        rows = self._db.execute("SELECT body FROM orders ORDER BY order_id").fetchall()
        controls = [r[0] for r in self._db.execute(
            "SELECT domain FROM control_domains ORDER BY domain")]
        approved: dict[str, list[tuple[str, str, str]]] = {}
        for order_id, site, domain, added in self._db.execute(
                "SELECT order_id, site, domain, added FROM approved_mirrors "
                "ORDER BY added, domain"):
            approved.setdefault(order_id, []).append((site, domain, added))
        orders = [_order_from_json(json.loads(r[0])) for r in rows]
        return OrderSet(tuple(_with_approved(o, approved.get(o.order_id, [])) for o in orders),
                        tuple(controls))

    def add_mirror(self, order_id: str, site: str, domain: str, day: dt.date) -> None:
        """Approve `domain` as a mirror of an order's site, added on `day` (a site
        not in the order yet is created), and forget a rejection of it."""
        with self._transaction() as db:
            row = db.execute("SELECT body FROM orders WHERE order_id = ?",
                             (order_id,)).fetchone()
            if row is None:
                known = [r[0] for r in db.execute("SELECT order_id FROM orders ORDER BY 1")]
                raise RegistryError(f"no order {order_id!r}; known orders: "
                                    f"{', '.join(known) or 'none'}")
            listed = {d: s["name"] for s in json.loads(row[0])["sites"]
                      for d, _, _ in s["domains"]}
            listed.update(db.execute("SELECT domain, site FROM approved_mirrors "
                                     "WHERE order_id = ?", (order_id,)).fetchall())
            if domain in listed:
                raise RegistryError(f"{domain} is already in order {order_id!r} "
                                    f"(site {listed[domain]!r})")
            db.execute("INSERT INTO approved_mirrors(order_id, site, domain, added) "
                       "VALUES (?, ?, ?, ?)", (order_id, site, domain, day.isoformat()))
            db.execute("DELETE FROM candidate_rejections WHERE order_id = ? AND domain = ?",
                       (order_id, domain))
            db.execute("INSERT INTO meta(key, value) VALUES ('orders_version', '1') "
                       "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    def reject_candidate(self, order_id: str, domain: str, day: dt.date) -> None:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM orders WHERE order_id = ?",
                          (order_id,)).fetchone() is None:
                raise RegistryError(f"no order {order_id!r}")
            db.execute("INSERT INTO candidate_rejections(order_id, domain, rejected_on) "
                       "VALUES (?, ?, ?) ON CONFLICT(order_id, domain) DO NOTHING",
                       (order_id, domain, day.isoformat()))

    def rejections(self) -> list[tuple[str, str, dt.date]]:
        return [(o, d, dt.date.fromisoformat(day)) for o, d, day in self._db.execute(
            "SELECT order_id, domain, rejected_on FROM candidate_rejections ORDER BY 1, 2")]

    def orders_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'orders_version'").fetchone()
        return int(row[0]) if row else 0


def _with_approved(order: Order, approved: list[tuple[str, str, str]]) -> Order:
    """The order with its approved mirrors (site, domain, added) in their sites;
    a domain the order file lists itself (re-imported since) keeps its entry."""
    listed = {d.domain for s in order.sites for d in s.domains}
    sites = {s.name: list(s.domains) for s in order.sites}
    for site, domain, added in approved:
        if domain not in listed:
            sites.setdefault(site, []).append(
                OrderDomain(domain, "mirror", dt.date.fromisoformat(added)))
    if not approved:
        return order
    return dataclasses.replace(order, sites=tuple(Site(n, tuple(ds)) for n, ds in sites.items()))


def _principal(row: tuple[Any, ...] | None) -> Principal | None:
    if row is None:
        return None
    return Principal(row[0], row[1], row[2], int(row[3]), bool(row[4]))


def _order_json(order: Order) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order.order_id, "authority": order.authority, "title": order.title,
        "issued": order.issued.isoformat(), "deadline": order.deadline.isoformat(),
        "countries": list(order.countries), "intermediaries": list(order.intermediaries),
        "sites": [{"name": s.name, "domains": [[d.domain, d.kind, d.added.isoformat()]
                                                for d in s.domains]} for s in order.sites],
    }
    if order.groups:
        # only then: an order of plain names keeps the body it was stored with,
        # so re-importing it is "unchanged"
        body["groups"] = [{"name": g.name, "resolvers": list(g.resolvers),
                           "networks": list(g.networks)} for g in order.groups]
    return body


def _order_from_json(data: dict[str, Any]) -> Order:
    return Order(
        order_id=data["order_id"], authority=data["authority"], title=data["title"],
        issued=dt.date.fromisoformat(data["issued"]),
        deadline=dt.date.fromisoformat(data["deadline"]),
        countries=tuple(data["countries"]), intermediaries=tuple(data["intermediaries"]),
        source=data.get("source", ""),
        groups=tuple(Intermediary(g["name"], tuple(g["resolvers"]), tuple(g["networks"]))
                     for g in data.get("groups", ())),
        sites=tuple(Site(s["name"], tuple(OrderDomain(d, k, dt.date.fromisoformat(a))
                                          for d, k, a in s["domains"]))
                    for s in data["sites"]))
