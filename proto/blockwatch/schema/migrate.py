"""Numbered SQL migrations (migrations/NNNN_name.sql), applied in order and
recorded in `schema_migrations`.

The same files serve one machine and a cluster: with a cluster name, each
statement is rewritten to run ON CLUSTER, sharded tables become
Replicated*MergeTree `<name>_local` tables plus a Distributed table under the
original name (so every query and insert keeps its table names), and small
reference tables (orders) are replicated whole to every shard so reports can
join them locally. Rewriting our own files, whose shape we control, keeps one
source of truth for the schema instead of two sets of DDL that drift.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from blockwatch.contract.errors import BlockwatchError
from blockwatch.schema.errors import MigrationError

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Sharding keys: a batch and its replays land on one shard, where the insert
# deduplication token and ReplacingMergeTree can see them together.
SHARDING_KEYS = {
    "measurements": "cityHash64(probe_name, batch_id)",
    "ingest_batches": "cityHash64(probe_name, batch_id)",
    "web_observations": "cityHash64(probe_name, batch_id)",
    "web_ingest_batches": "cityHash64(probe_name, batch_id)",
    # derived tables (0004): any deterministic key; reports sum across shards
    "verdicts": "cityHash64(probe_name, measurement_id)",
    "verdicts_daily": "cityHash64(probe_country, domain)",
    # derived per-row tables of issue 13 (0008): as large as their sources,
    # and reclassify deletes from `{table}_local`
    "web_verdicts": "cityHash64(probe_name, observation_id)",
    "site_verdicts": "cityHash64(probe_name, measurement_id)",
    "layers_daily": "cityHash64(probe_country, domain)",
    # the controls of the DNS rules (0016): derived per row, like verdicts
    "control_resolutions": "cityHash64(measurement_id)",
    "health_checks": "cityHash64(measurement_id)",
    "layers_sites_daily": "cityHash64(probe_country, domain)",
    "sources_daily": "cityHash64(probe_country, domain)",   # 0013
    "layers_sites_monthly": "cityHash64(probe_country, domain)",   # 0014
}
# Everything else is a reference table, replicated whole to every shard: the
# orders and their groups (orders, order_domains, order_intermediaries), mirror
# candidates and rejections (a few rows per ordered site, joined by reports).

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self, cluster: str = "") -> list[str]:
        plain = split_statements(self.sql)
        if not cluster:
            return plain
        return [s for statement in plain for s in clusterize(statement, cluster)]


def load_migrations() -> list[Migration]:
    """The packaged migrations, by version; gaps and duplicates are errors."""
    found: list[Migration] = []
    for entry in resources.files("blockwatch.schema").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(f"expected {expected:04d}_*.sql next (gap or duplicate)",
                                 version=migration.version)
    return found


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file: `--` comment lines dropped, split on ';'."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


_CREATE_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)")
_ALTER_TABLE = re.compile(r"^ALTER TABLE (\w+)\b")
_INSERT = re.compile(r"^INSERT INTO \w+\b")
_LOCAL_ONLY = re.compile(r"^\s+((ADD|MATERIALIZE|DROP|CLEAR) INDEX|MODIFY SETTING)\b")
_CREATE_VIEW = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS")
_ENGINE = re.compile(r"ENGINE = (\w*)MergeTree(\([^)]*\))?")
_NON_REPLICATED = re.compile(r"\nSETTINGS non_replicated_deduplication_window = \d+")


def clusterize(statement: str, cluster: str) -> list[str]:
    """One statement of ours, rewritten for a cluster (see the module docstring)."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", cluster):
        raise MigrationError(f"cluster name {cluster!r} is not an identifier", version=0)
    on = f"ON CLUSTER {cluster}"
    table = _CREATE_TABLE.match(statement)
    if table:
        name = table[1]
        if name in SHARDING_KEYS:
            local = f"{name}_local"
            head = f"CREATE TABLE IF NOT EXISTS {local} {on}"
            body = _replicated(_NON_REPLICATED.sub("", statement[table.end():]),
                               f"/clickhouse/tables/{{shard}}/{{database}}/{local}")
            distributed = (f"CREATE TABLE IF NOT EXISTS {name} {on} AS {local}\n"
                           f"ENGINE = Distributed({cluster}, currentDatabase(), {local}, "
                           f"{SHARDING_KEYS[name]})")
            return [head + body, distributed]
        # Reference tables: one replica set spanning every shard (no {shard} in the path).
        body = _replicated(statement[table.end():], f"/clickhouse/tables/all/{{database}}/{name}",
                           replica="{shard}-{replica}")
        return [f"CREATE TABLE IF NOT EXISTS {name} {on}" + body]
    alter = _ALTER_TABLE.match(statement)
    if alter:
        # a sharded table's columns change on its local tables and its Distributed
        # one; its indexes and storage settings belong to the local tables only
        name, rest = alter[1], statement[alter.end():]
        names = [f"{name}_local", name] if name in SHARDING_KEYS else [name]
        if name in SHARDING_KEYS and _LOCAL_ONLY.match(rest):
            names = [f"{name}_local"]
        return [f"ALTER TABLE {n} {on}{rest}" for n in names]
    if _INSERT.match(statement):
        # a copy between tables (a backfill): once, through the Distributed tables
        return [statement]
    view = _CREATE_VIEW.match(statement)
    if view:
        target = f"{view[2]}_local" if view[2] in SHARDING_KEYS else view[2]
        rest = statement[view.end():]
        for name in SHARDING_KEYS:
            rest = re.sub(rf"\bFROM {name}\b", f"FROM {name}_local", rest)
        return [f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view[1]} {on} TO {target} AS{rest}"]
    raise MigrationError(f"cannot rewrite for a cluster: {statement[:60]!r}", version=0)


def _replicated(body: str, path: str, replica: str = "{replica}") -> str:
    def engine(match: re.Match[str]) -> str:
        args = match[2][1:-1] if match[2] else ""
        extra = f", {args}" if args else ""
        return f"ENGINE = Replicated{match[1]}MergeTree('{path}', '{replica}'{extra})"

    rewritten, count = _ENGINE.subn(engine, body, count=1)
    if count != 1:
        raise MigrationError(f"no MergeTree engine to replicate in {body[:60]!r}", version=0)
    return rewritten


class SchemaClient(Protocol):
    """What migrating needs from the store (kept narrow so this module stays testable)."""

    def command(self, sql: str) -> None: ...

    def rows(self, sql: str) -> list[tuple[object, ...]]: ...


def applied_versions(client: SchemaClient, cluster: str = "") -> dict[int, str]:
    statement = MIGRATIONS_TABLE
    if cluster:
        statement = clusterize(statement, cluster)[0]
    client.command(statement)
    return {int(str(v)): str(c) for v, c in
            client.rows("SELECT version, checksum FROM schema_migrations FINAL")}


def apply_migrations(client: SchemaClient, cluster: str = "") -> list[Migration]:
    """Apply the migrations not yet recorded; returns those applied now.

    A recorded migration whose file changed since is an error: the schema in
    the database would no longer be what the files say.
    """
    done = applied_versions(client, cluster)
    applied: list[Migration] = []
    for migration in load_migrations():
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MigrationError(
                    "changed after it was applied; add a new migration instead",
                    version=migration.version)
            continue
        for statement in migration.statements(cluster):
            try:
                client.command(statement)
            except BlockwatchError as exc:   # the client's own error (collector or analysis)
                raise MigrationError(str(exc).splitlines()[0] if str(exc) else repr(exc),
                                     version=migration.version) from exc
        client.command(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES "
            f"({migration.version}, '{migration.name}', '{migration.checksum}')")
        applied.append(migration)
    return applied
