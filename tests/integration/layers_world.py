"""A small, fully known world of *site verdicts* for the layered reports (not a
test module): rows as the classify pass stores them in `site_verdicts` (one
per DNS measurement: its DNS layer, its web layer, the site verdict), written
directly so the reports' SQL is tested on its own; the rollup `layers_daily`
is filled by its materialized view, as in production. The orders are
analysis_world's (it-2024-kat: IT, cloudflare and isp; it-2020-kat: IT and
SM, isp).

The stories, each on its own path (resolver x transport x address family):
- Milan: Cloudflare's 1.1.1.1 resolves kat (DNS ok), its edge answers HTTP
  451 in Italy (site blocked at http, by "edge cloudflare"), over UDP for A and
  AAAA and over DoH; before that (D0) the site was reachable.
- AGCOM: the ISP's resolver answers tpb with the stop page (DNS sinkhole),
  which the web follow-up shows as the block page: site blocked at dns, by
  "resolver isp".
- Piracy Shield: the ISP's resolver resolves kat, the network drops the
  address (site blocked at ip, by "network AS3269").
- Leaks: Cloudflare over UDP/A and Google over UDP/AAAA still reach tpb.
- Quad9 (DoT) answers tpb NXDOMAIN in Italy; in Germany with EDE; Cloudflare's
  edge refuses kat in Germany too (spillover at the web layer only).
- Google fails kat (DNS error): inconclusive everywhere.
- The control probe and the control domain are never counted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.collector.orders import parse_orders
from tests.integration.analysis_world import (
    ORDERS_YAML,
    Probe,
    Row,
    create_schema,
    store_orders,
    store_rows,
)

D0, D1, D2 = dt.date(2024, 8, 13), dt.date(2024, 8, 15), dt.date(2024, 8, 16)
KAT, TPB, CONTROL = "kickasstorrents.to", "thepiratebay.org", "example.com"
A, AAAA = 1, 28


@dataclass(frozen=True)
class Layer:
    """One layer's verdict: (verdict, method, layer, party, operator)."""

    verdict: str = "ok"
    method: str = ""
    layer: str = ""
    party: str = ""
    operator: str = ""


OK = Layer()
NO_FOLLOW_UP = Layer("unknown")
ERROR = Layer("error")


@dataclass(frozen=True)
class Path:
    probe: str
    country: str
    asn: int
    resolver: str
    transport: str = "udp"
    qtype: int = A
    control: bool = False


@dataclass(frozen=True)
class SiteRow:
    path: Path
    day: dt.date
    domain: str
    dns: Layer
    web: Layer
    site: Layer

    def values(self, n: int) -> dict[str, Any]:
        # n: the row's place in its world, so times and ids do not depend on
        # which worlds this process built before (a module-wide counter did)
        started = dt.datetime.combine(self.day, dt.time(10, 0, n % 60), dt.UTC)
        p = self.path
        return {
            "measurement_id": uuid.UUID(int=n), "started_at": started,
            "received_at": started + dt.timedelta(seconds=30), "round_id": f"r-{self.day}",
            "probe_name": p.probe, "probe_country": p.country, "probe_asn": p.asn,
            "probe_control": p.control, "domain": self.domain, "qtype": p.qtype,
            "purpose": "control" if self.domain == CONTROL else "target",
            "resolver_name": p.resolver, "transport": p.transport,
            "dns_verdict": self.dns.verdict, "dns_method": self.dns.method,
            "dns_rule": "test", "web_verdict": self.web.verdict, "web_method": self.web.method,
            "web_rule": "test", "web_observation_ids": [], "web_layer": self.web.layer,
            "web_party": self.web.party, "web_operator": self.web.operator,
            "verdict": self.site.verdict, "layer": self.site.layer, "method": self.site.method,
            "party": self.site.party, "operator": self.site.operator, "confirmed_by": [],
            "classifier_version": "test", "classified_at": started + dt.timedelta(minutes=1),
        }


IT_CF = Path("it-1", "IT", 3269, "cloudflare")
IT_CF6 = Path("it-1", "IT", 3269, "cloudflare", qtype=AAAA)
IT_CF_DOH = Path("it-1", "IT", 3269, "cloudflare-doh", "doh")
IT_ISP = Path("it-1", "IT", 3269, "isp")
IT_GOOGLE = Path("it-1", "IT", 3269, "google")
IT_GOOGLE6 = Path("it-1", "IT", 3269, "google", qtype=AAAA)
IT_QUAD9 = Path("it-1", "IT", 3269, "quad9", "dot")
DE_CF = Path("de-1", "DE", 3320, "cloudflare")
DE_QUAD9 = Path("de-1", "DE", 3320, "quad9")
NL_CF = Path("nl-control", "NL", 1136, "cloudflare", control=True)

EDGE_451 = Layer("blocked", "http-451", "http", "edge", "cloudflare")
STOP_PAGE_DNS = Layer("blocked", "sinkhole", "dns", "resolver", "isp")
STOP_PAGE_WEB = Layer("blocked", "blockpage", "http", "network", "AS3269")
IP_DROP = Layer("blocked", "ip-drop", "ip", "network", "AS3269")


def _dns(method: str, resolver: str) -> Layer:
    return Layer("blocked", method, "dns", "resolver", resolver)


def layered_rows() -> list[SiteRow]:
    rows = [
        # D0: before Cloudflare's remedy the site is reachable through it
        SiteRow(IT_CF, D0, KAT, OK, OK, OK),
        # D1: the Milan remedy on every Cloudflare path: DNS unchanged, edge 451
        SiteRow(IT_CF, D1, KAT, OK, EDGE_451, EDGE_451),
        SiteRow(IT_CF6, D1, KAT, OK, EDGE_451, EDGE_451),
        SiteRow(IT_CF_DOH, D1, KAT, OK, EDGE_451, EDGE_451),
        # the AGCOM stop page, seen at both layers; the DNS layer decides
        SiteRow(IT_ISP, D1, TPB, Layer("blocked", "sinkhole"), STOP_PAGE_WEB, STOP_PAGE_DNS),
        # Piracy Shield: resolved, then dropped by the network
        SiteRow(IT_ISP, D1, KAT, OK, IP_DROP, IP_DROP),
        # leaks: two paths still reach tpb after its deadline
        SiteRow(IT_CF, D1, TPB, OK, OK, OK),
        SiteRow(IT_GOOGLE6, D1, TPB, OK, OK, OK),
        # Quad9 over DoT: NXDOMAIN, no address to follow
        SiteRow(IT_QUAD9, D1, TPB, Layer("blocked", "nxdomain"), NO_FOLLOW_UP,
                _dns("nxdomain", "quad9")),
        # Google fails kat: inconclusive at every layer
        SiteRow(IT_GOOGLE, D1, KAT, ERROR, NO_FOLLOW_UP, ERROR),
        # Germany: Quad9's DNS blocks tpb (EDE), Cloudflare's edge refuses kat on D2
        SiteRow(DE_QUAD9, D1, TPB, Layer("blocked", "ede"), NO_FOLLOW_UP, _dns("ede", "quad9")),
        SiteRow(DE_CF, D1, KAT, OK, OK, OK),
        SiteRow(DE_CF, D2, KAT, OK, EDGE_451, EDGE_451),
        # never counted: the control vantage, the control domain
        SiteRow(NL_CF, D1, KAT, OK, OK, OK),
        SiteRow(IT_CF, D1, CONTROL, _dns("ede", "cloudflare"), OK, _dns("ede", "cloudflare")),
    ]
    return rows


_VERDICT_COLUMNS = ("measurement_id", "started_at", "received_at", "probe_name",
                    "probe_country", "probe_asn", "probe_control", "domain", "qtype", "purpose",
                    "resolver_name", "transport")


def store_site_verdicts(db: ClickHouseDatabase, rows: list[SiteRow]) -> None:
    """The site verdicts, and the measurements and DNS verdicts behind them (so
    the data status says: everything stored is classified)."""
    values = [r.values(n) for n, r in enumerate(rows, 1)]
    columns = list(values[0])
    db.insert("site_verdicts", columns, [[v[c] for c in columns] for v in values])
    store_rows(db, [Row(Probe(r.path.probe, r.path.country, r.path.asn, r.path.control),
                        r.day, r.path.resolver, r.domain, extra={
                            c: v[c] for c in _VERDICT_COLUMNS if c not in (
                                "probe_name", "probe_country", "probe_asn", "probe_control",
                                "purpose", "resolver_name")})
                    for r, v in zip(rows, values, strict=True)])
    db.insert("verdicts", [*_VERDICT_COLUMNS, "failure", "verdict", "method", "rule",
                           "classifier_version", "classified_at"],
              [[*(v[c] for c in _VERDICT_COLUMNS), "none", v["dns_verdict"], v["dns_method"],
                "test", "test", v["classified_at"]] for v in values])


def build_layered_world(dsn: str, database: str) -> ClickHouseDatabase:
    db = create_schema(dsn, database)
    store_orders(db, parse_orders(ORDERS_YAML, source="world.yaml"))
    store_site_verdicts(db, layered_rows())
    return db
