"""A small, fully known world of stored measurements for report tests (not a
test module): an order against Italian intermediaries (with a mirror added
later, due 30 days after it was added) and an old one whose deadline predates
monitoring, probes in IT and DE,
an unfiltered control probe in NL, three days. Every figure the report tests
assert follows from the rows below by hand.

Lab-world tests feed reports the same way: store measurements (here by
INSERT, there through real probes and the collector), `reclassify`, then
`build_report(name, filters, db.rows)`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.collector.orders import OrderSet, parse_orders
from blockwatch.schema.migrate import apply_migrations

ORDERS_YAML = """
orders:
  - id: it-2024-kat
    authority: Tribunale di Milano
    issued: 2024-07-15
    deadline: 2024-08-14
    countries: [IT]
    intermediaries: [cloudflare, isp]
    sites:
      - name: kat
        domains: [kickasstorrents.to]
        mirrors: [{domain: kickasstorrents.cr, added: 2024-08-01}]
      - name: tpb
        domains: [thepiratebay.org]
  # An old order: monitoring began years after its deadline, and the ISP
  # blocked from the first measurement: nothing shows it was ever late. It also
  # covers San Marino, where no probe measures: its story must still be told.
  - id: it-2020-kat
    authority: AGCOM
    issued: 2020-01-10
    deadline: 2020-01-31
    countries: [IT, SM]
    intermediaries: [isp]
    sites:
      - name: kat
        domains: [kickasstorrents.to]
control_domains: [example.com]
"""

D0, D1, D2 = dt.date(2024, 8, 13), dt.date(2024, 8, 15), dt.date(2024, 8, 16)
KAT, MIRROR, TPB, CONTROL = ("kickasstorrents.to", "kickasstorrents.cr", "thepiratebay.org",
                             "example.com")
REAL = {KAT: "104.16.1.1", MIRROR: "104.16.1.2", TPB: "162.159.1.1",
        CONTROL: "93.184.215.14"}
AGCOM = "83.224.65.74"


@dataclass(frozen=True)
class Probe:
    name: str
    country: str
    asn: int
    control: bool = False


IT1 = Probe("it-1", "IT", 3269)
IT2 = Probe("it-2", "IT", 30722)
DE1 = Probe("de-1", "DE", 3320)
NL_CONTROL = Probe("nl-control", "NL", 1136, control=True)

_SEQ = itertools.count()


@dataclass
class Row:
    probe: Probe
    day: dt.date
    resolver: str
    domain: str
    rcode: int | None = 0
    answers: tuple[str, ...] | None = None      # None: the real address
    ede: tuple[tuple[int, str], ...] = ()
    flags: int = 0x8180                         # QR RD RA
    authority: int = 0
    failure: str = "none"
    minute: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        started = dt.datetime.combine(self.day, dt.time(10, self.minute), dt.UTC)
        answers = self.answers if self.answers is not None else (
            (REAL[self.domain],) if self.rcode == 0 else ())
        purpose = "control" if self.domain == CONTROL else "target"
        return {
            "measurement_id": str(uuid.UUID(int=next(_SEQ) + 1)), "batch_id": "b1",
            "round_id": "r1", "probe_name": self.probe.name,
            "probe_country": self.probe.country, "probe_asn": self.probe.asn,
            "probe_control": self.probe.control, "started_at": started,
            "received_at": started + dt.timedelta(seconds=30), "domain": self.domain,
            "qtype": 1, "qclass": 1, "purpose": purpose, "resolver_name": self.resolver,
            "resolver_address": "192.0.2.1", "resolver_port": 53, "transport": "udp",
            "failure": self.failure, "response_count": 0 if self.rcode is None else 1,
            "rcode": self.rcode, "flags": 0 if self.rcode is None else self.flags,
            "answers.name": [self.domain] * len(answers), "answers.type": [1] * len(answers),
            "answers.ttl": [300] * len(answers), "answers.data": list(answers),
            "authority_count": self.authority, "edns": True,
            "ede_codes": [c for c, _ in self.ede], "ede_texts": [t for _, t in self.ede],
            **self.extra,
        }


def world_rows() -> list[Row]:
    rows: list[Row] = []
    # The control vantage resolves everything, every day (cloudflare from NL).
    for day in (D0, D1, D2):
        rows += [Row(NL_CONTROL, day, "cloudflare", d) for d in (KAT, MIRROR, TPB, CONTROL)]
    # Resolver health: each probe's resolvers answer the control domain daily,
    # except "google" for it-2, which answers nothing at all.
    for day in (D0, D1, D2):
        rows += [Row(IT1, day, r, CONTROL) for r in ("cloudflare", "isp")]
        rows += [Row(IT2, day, "isp", CONTROL),
                 Row(IT2, day, "google", CONTROL, rcode=None, failure="timeout")]
        rows += [Row(DE1, day, r, CONTROL) for r in ("cloudflare", "quad9")]
    censored = ((16, "blocked by court order"),)
    rows += [
        # D0, before the deadline: the ISP already redirects kat; cloudflare resolves.
        Row(IT1, D0, "cloudflare", KAT), Row(IT1, D0, "cloudflare", TPB),
        Row(IT1, D0, "isp", KAT, answers=(AGCOM,)), Row(IT1, D0, "isp", TPB),
        # D1: cloudflare blocks kat with EDE 16; the ISP blocks kat (stop page), the
        # mirror (stop page) and tpb (NXDOMAIN where the control resolves).
        Row(IT1, D1, "cloudflare", KAT, answers=(), ede=censored),
        Row(IT1, D1, "cloudflare", TPB), Row(IT1, D1, "cloudflare", MIRROR),
        Row(IT1, D1, "isp", KAT, answers=(AGCOM,)), Row(IT1, D1, "isp", MIRROR, answers=(AGCOM,)),
        Row(IT1, D1, "isp", TPB, rcode=3, flags=0x8183, authority=1),
        # it-2's ISP drops kat (timeout; its control queries answer) but leaks tpb.
        Row(IT2, D1, "isp", KAT, rcode=None, failure="timeout"), Row(IT2, D1, "isp", TPB),
        # it-2's google fails everything, the control domain included: error.
        Row(IT2, D1, "google", KAT, rcode=None, failure="timeout"),
        # Spillover: cloudflare and Quad9 block tpb in Germany.
        Row(DE1, D1, "cloudflare", KAT), Row(DE1, D1, "cloudflare", TPB, answers=(),
                                              ede=censored),
        Row(DE1, D1, "quad9", TPB, rcode=3, flags=0x8103, authority=0),
        # D2: cloudflare blocks both sites in IT, the mirror still resolves.
        Row(IT1, D2, "cloudflare", KAT, answers=(), ede=censored),
        Row(IT1, D2, "cloudflare", TPB, answers=(), ede=censored),
        Row(IT1, D2, "cloudflare", MIRROR),
        Row(IT1, D2, "isp", KAT, answers=(AGCOM,)), Row(IT1, D2, "isp", TPB, rcode=3,
                                                         flags=0x8183, authority=1),
        Row(IT2, D2, "isp", KAT, rcode=None, failure="timeout"), Row(IT2, D2, "isp", TPB),
    ]
    return rows


def create_schema(dsn: str, database: str) -> ClickHouseDatabase:
    setup = ClickHouseDatabase(dsn, "default")
    setup.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    db = ClickHouseDatabase(dsn, database)
    apply_migrations(db)
    return db


def store_orders(db: ClickHouseDatabase, orders: OrderSet) -> None:
    """What the collector's order mirror writes (Store.replace_orders)."""
    db.insert("orders", ["order_id", "authority", "title", "issued", "deadline", "countries",
                         "intermediaries", "source"],
              [[o.order_id, o.authority, o.title, o.issued, o.deadline, list(o.countries),
                list(o.intermediaries), "test"] for o in orders.orders])
    db.insert("order_domains", ["order_id", "site", "domain", "kind", "added"],
              [[o.order_id, s.name, d.domain, d.kind, d.added]
               for o in orders.orders for s in o.sites for d in s.domains])
    db.insert("control_domains", ["domain"], [[d] for d in orders.control_domains])


def store_rows(db: ClickHouseDatabase, rows: list[Row]) -> None:
    values = [r.values() for r in rows]
    columns = list(values[0])
    db.insert("measurements", columns, [[v[c] for c in columns] for v in values])


def build_world(dsn: str, database: str) -> ClickHouseDatabase:
    db = create_schema(dsn, database)
    store_orders(db, parse_orders(ORDERS_YAML, source="world.yaml"))
    store_rows(db, world_rows())
    return db
