"""Production verdicts (the rules as one ClickHouse query, rules_sql.py) equal
the pure rules' (dnsverdicts.py, the oracle) on the same stored measurements, in
real chDB: on generated observations that reach every rule (flood, strays,
EDE, bogons, fingerprints in and out of their countries, control vantages,
near and far controls, broken resolvers) and on the hand-built world."""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.analysis.fingerprints import load_fingerprints
from blockwatch.analysis.storage import oracle_verdicts, reclassify, store_pending_verdicts
from blockwatch.analysis.verdict import Rule
from blockwatch.schema.migrate import load_migrations
from tests.integration.analysis_world import build_world, create_schema
from tests.integration.collector_harness import chdb_dsn

FPS = load_fingerprints()
HOUR_US = 3600 * 1_000_000
WINDOW_US = HOUR_US          # a short window, so "too far" happens within 3 hours
T0 = int(dt.datetime(2024, 8, 1, 10, tzinfo=dt.UTC).timestamp()) * 1_000_000

# Pools the generator draws from: real answers that share a /24 or not,
# bogons, fingerprinted stop pages (AGCOM is Italian: in scope for IT only),
# a private fingerprint (Iran's 10.10.34.34), CNAME fingerprints, Cloudflare
# family's zero answers.
_SCOPED = next(fp for fp in FPS.fingerprints if fp.kind == "address" and fp.countries)
_CNAME = next(fp for fp in FPS.fingerprints if fp.kind == "cname")
ADDRESSES = ["104.16.1.1", "104.16.1.2", "104.17.9.9", "162.159.1.1", "2606:4700::1",
             "2606:4700:1::9", "0.0.0.0", "::", "127.0.0.1", "10.1.2.3", "192.168.1.1",
             "83.224.65.74", "10.10.34.34", _SCOPED.pattern, "not-an-address"]
CNAMES = ["cdn.example.net.", _CNAME.pattern + ".", "Edge.Example.COM."]
DOMAINS = ["kat.example", "tpb.example", "control.example", "lonely.example"]
PROBES = [("it-1", "IT", False), ("de-1", "DE", False), ("ir-1", "IR", False),
          ("nl-ctl", "NL", True), ("ch-ctl", "CH", True)]
RESOLVERS = ["isp", "google", "quad9", "adguard"]
EDE = [(), ((16, "censored"),), ((15, "blocked"),), ((18, "prohibited"),), ((17, "filtered"),),
       ((3, "stale"),), ((3, "stale"), (16, "second")), ((17, "f"), (15, "b"))]


def _row(rng: random.Random, seq: int, probe: tuple[str, str, bool] | None = None,
         domain: str | None = None) -> dict[str, Any]:
    name, country, control = probe or rng.choice(PROBES)
    domain = domain or rng.choice(DOMAINS)
    if control and domain == "lonely.example":
        # No control vantage ever resolves it (no reference), and nobody asks
        # adguard for a control domain (health unknown).
        domain = "kat.example"
    resolver = rng.choice(RESOLVERS)
    if domain == "control.example" and resolver == "adguard":
        resolver = "isp"
    purpose = "control" if domain == "control.example" else rng.choice(
        ["target"] * 12 + ["identity"])
    failure = rng.choice(["none"] * 6 + ["timeout", "timeout", "connection_reset", "tls_error"])
    rcode: int | None = None if failure != "none" else rng.choice([0, 0, 0, 0, 3, 3, 2, 5, 1])
    answers: list[tuple[int, str]] = []
    if rcode == 0 and rng.random() < 0.8:
        answers = [(28 if ":" in a else 1, a) for a in rng.sample(ADDRESSES, rng.choice([1, 1, 2]))]
        if rng.random() < 0.2:
            answers.insert(0, (5, rng.choice(CNAMES)))
    transport = rng.choice(["udp", "udp", "udp", "tcp"])
    later_n = rng.choice([0, 0, 0, 1, 2]) if rcode is not None else 0
    later_rcode = [rng.choice([rcode or 0, rcode or 0, 3]) for _ in range(later_n)]
    first = [d for t, d in answers if t in (1, 28)]
    later_data = [rng.choice([first, first, [rng.choice(ADDRESSES)], []])
                  for _ in range(later_n)]
    strays = rng.choice([0, 0, 0, 1, 3]) if rcode is None else 0
    ede = rng.choice(EDE) if rcode is not None and rng.random() < 0.3 else ()
    started = T0 + rng.randrange(0, 3 * HOUR_US)
    stamp = dt.datetime.fromtimestamp(started / 1e6, dt.UTC)
    return {
        "measurement_id": str(uuid.UUID(int=seq + 1)), "batch_id": "b", "round_id": "r",
        "probe_name": name, "probe_country": country, "probe_asn": 64500,
        "probe_control": control, "started_at": stamp,
        "received_at": stamp + dt.timedelta(seconds=rng.choice([1, 30, 90])),
        "domain": domain, "qtype": rng.choice([1, 1, 1, 28]), "qclass": 1, "purpose": purpose,
        "resolver_name": resolver, "resolver_address": "192.0.2.1",
        "resolver_port": 53, "transport": transport, "failure": failure,
        "response_count": 0 if rcode is None else 1 + later_n, "rcode": rcode,
        "flags": 0 if rcode is None else rng.choice([0x8180, 0x8100, 0x8580]),
        "answers.name": [domain] * len(answers), "answers.type": [t for t, _ in answers],
        "answers.ttl": [300] * len(answers), "answers.data": [d for _, d in answers],
        "cname_chain": [rng.choice(CNAMES)] if rcode == 0 and rng.random() < 0.1 else [],
        "authority_count": rng.choice([0, 0, 1]), "edns": True,
        "ede_codes": [c for c, _ in ede], "ede_texts": [t for _, t in ede],
        "later_rcode": later_rcode, "later_answer_data": later_data,
        "parse_error": "bad label" if later_n and rng.random() < 0.1 else "",
        "reply_count": 1 + later_n, "answer_set_count": rng.choice([0, 1, 1, 2]) if later_n else 1,
        "stray_count": strays,
        "stray_reason": [rng.choice(["wrong_id", "runt", "unmatched"]) for _ in range(
            min(strays, 2))],
    }


def world(seed: int, size: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = [_row(rng, seed * 100_000 + i) for i in range(size)]
    # Every probe's resolvers answer (or fail) a control domain now and then,
    # and the control vantages resolve the target names: health and references.
    base = len(rows)
    for i in range(size // 4):
        rows.append(_row(rng, seed * 100_000 + base + i, probe=rng.choice(PROBES),
                         domain=rng.choice(DOMAINS)))
    return rows


def _store(db: ClickHouseDatabase, rows: list[dict[str, Any]]) -> None:
    # the control tables are filled from measurements (0016): cleared with them
    for table in ("measurements", "control_resolutions", "health_checks", "verdicts",
                  "verdicts_daily"):
        db.command(f"TRUNCATE TABLE {table}")
    columns = list(rows[0])
    db.insert("measurements", columns, [[r[c] for c in columns] for r in rows])


_COMPARED = ("toString(measurement_id), toString(verdict), toString(method), rule, rcode, "
             "ede_code, ede_text, fingerprint, answer, control_outcome, control_answer, "
             "control_measurement_id, resolver_health, classifier_version")


def _production(db: ClickHouseDatabase) -> dict[str, tuple[Any, ...]]:
    return {str(r[0]): tuple(r) for r in db.rows(f"SELECT {_COMPARED} FROM verdicts FINAL")}


def _oracle(db: ClickHouseDatabase, window_us: int) -> dict[str, tuple[Any, ...]]:
    rows = oracle_verdicts(db, "1", {}, FPS, window_us)
    return {str(r[0]): (str(r[0]), *r[13:26]) for r in rows}


def _compare(db: ClickHouseDatabase, window_us: int) -> Counter[str]:
    prod, oracle = _production(db), _oracle(db, window_us)
    assert prod.keys() == oracle.keys()
    differ = {k: (prod[k], oracle[k]) for k in prod
              if _normal(prod[k]) != _normal(oracle[k])}
    assert not differ, f"{len(differ)} verdicts differ, e.g. {next(iter(differ.values()))}"
    return Counter(r[3] for r in prod.values())


def _normal(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(list(v) if isinstance(v, list | tuple) else v for v in row)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseDatabase]:
    handle = create_schema(chdb_dsn(tmp_path_factory), f"rules{time.monotonic_ns()}")
    yield handle
    handle.close()


def test_production_verdicts_equal_the_rules_on_a_generated_world_reaching_every_rule(
        db: ClickHouseDatabase) -> None:
    _store(db, world(seed=7, size=4000))
    done = store_pending_verdicts(db, FPS, window_us=WINDOW_US, max_rows=1000)
    while done.measurements:
        done = store_pending_verdicts(db, FPS, window_us=WINDOW_US, max_rows=1000)
    rules = _compare(db, WINDOW_US)
    missing = {r.value for r in Rule} - set(rules)
    assert not missing, f"the generated world never reached {sorted(missing)}"


def test_reclassify_writes_the_same_verdicts_as_the_rules(db: ClickHouseDatabase) -> None:
    _store(db, world(seed=11, size=1500))
    reclassify(db, FPS, window_us=WINDOW_US, max_rows=300)   # nothing classified: catch-up
    reclassify(db, FPS, window_us=WINDOW_US, max_rows=300)   # everything again, in chunks
    _compare(db, WINDOW_US)


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), size=st.integers(1, 60))
def test_production_verdicts_equal_the_rules_on_small_generated_worlds(
        db: ClickHouseDatabase, seed: int, size: int) -> None:
    _store(db, world(seed, size))
    store_pending_verdicts(db, FPS, window_us=WINDOW_US, max_rows=100_000)
    _compare(db, WINDOW_US)


def test_controls_stored_before_their_tables_existed_are_still_used(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """An upgrade: measurements stored under migrations 1-15, then 0016 adds the
    control tables the rules read. Its copy of what was stored must give the
    same verdicts as the rules, or every chunk within the control window of
    the upgrade would judge without its controls."""
    dsn = chdb_dsn(tmp_path_factory)
    name = f"upgrade{time.monotonic_ns()}"
    ClickHouseDatabase(dsn, "default").command(f"CREATE DATABASE {name}")
    handle = ClickHouseDatabase(dsn, name)
    try:
        migrations = load_migrations()
        for migration in migrations:
            if migration.version < 16:
                for statement in migration.statements():
                    handle.command(statement)
        rows = world(seed=5, size=1500)
        columns = list(rows[0])
        handle.insert("measurements", columns, [[r[c] for c in columns] for r in rows])
        for migration in migrations:
            if migration.version == 16:
                for statement in migration.statements():
                    handle.command(statement)
        store_pending_verdicts(handle, FPS, window_us=WINDOW_US, max_rows=100_000)
        rules = _compare(handle, WINDOW_US)
        # the world reaches the rules that need a control and a health check
        assert rules[Rule.MATCHES_CONTROL.value] and rules[Rule.RESOLVER_FAILS.value]
    finally:
        handle.close()


def test_production_verdicts_equal_the_rules_on_the_hand_built_world(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    handle = build_world(chdb_dsn(tmp_path_factory), f"rulesworld{time.monotonic_ns()}")
    try:
        reclassify(handle, FPS)
        rules = _compare(handle, 6 * HOUR_US)
        assert len(rules) >= 6
    finally:
        handle.close()
