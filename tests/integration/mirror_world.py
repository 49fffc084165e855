"""A small, fully known world for mirror discovery (issue 14; not a test
module): stored web observations and DNS measurements from which every true
mirror must be derived with its evidence, and nothing else.

- kat (kickasstorrents.to): its certificate, seen from the Swiss control
  vantage, also names kat.sx; a generated variant kickasstorrents.cc serves
  the same page; kickasstorrents.org is an unrelated site (other title, body
  and certificate); from Italy the ISP redirects kat to its stop page.
- canna (canna.to): the old domain redirects to canna-power.to; canna-shop.net
  resolves to canna.to's hoster address (co-hosting); footy.net shares only
  a Cloudflare edge address with kat (a CDN: no evidence).

kat.sx was measured as a candidate two days ago (the ISP resolves it,
Cloudflare blocks it with EDE 16) and as a target today (the ISP blocks it
with its stop page, Cloudflare still resolves it). Both orders give no grace
(deadline = issue date), so an approved mirror is due the day it is added.

`python -m tests.integration.mirror_world DSN DATABASE` builds it, classifies,
and runs one discovery pass (what the collector's supervised task does).
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid

from blockwatch.analysis.database import ClickHouseDatabase
from blockwatch.collector.discovery import DiscoveryState, discover
from blockwatch.collector.orders import OrderSet, parse_orders
from tests.integration.analysis_world import (
    AGCOM,
    DE1,
    IT1,
    NL_CONTROL,
    Probe,
    Row,
    create_schema,
    store_orders,
    store_rows,
)

TODAY = dt.datetime.now(dt.UTC).date()
BEFORE = TODAY - dt.timedelta(days=2)
ORDERS_YAML = f"""
orders:
  - id: it-kat
    authority: Tribunale di Milano
    issued: {BEFORE - dt.timedelta(days=10)}
    deadline: {BEFORE - dt.timedelta(days=10)}
    countries: [IT]
    intermediaries: [cloudflare, isp]
    sites:
      - name: kat
        domains: [kickasstorrents.to]
  - id: de-canna
    authority: CUII
    issued: {BEFORE - dt.timedelta(days=10)}
    deadline: {BEFORE - dt.timedelta(days=10)}
    countries: [DE]
    intermediaries: [isp]
    sites:
      - name: canna
        domains: [canna.to]
control_domains: [example.com]
"""
CH_CONTROL = Probe("ch-control", "CH", 3303, control=True)
KAT_CERT, OTHER_CERT = "a1" * 32, "b2" * 32
HOSTER, EDGE, KAT_SX = "81.169.145.70", "104.16.5.5", "185.199.108.10"

# (candidate, source) -> the words its evidence must show
EXPECTED = {
    ("kat.sx", "certificate"): "names kat.sx",
    ("kickasstorrents.cc", "variant"): "serves the site's page",
    ("canna-power.to", "redirect"): "301 Location https://canna-power.to/",
    ("canna-shop.net", "cohost"): HOSTER,
}
NOT_PROPOSED = ("kickasstorrents.org", "stop.agcom.it", "footy.net", "kickasstorrents.to",
                "canna.to")


def orders() -> OrderSet:
    return parse_orders(ORDERS_YAML, source="mirror-world.yaml")


def _web(probe: Probe, day: dt.date, name: str, *, status: int = 200, location: str = "",
         sans: tuple[str, ...] = (), cert: str = "", matches: bool = False,
         title: str = "", body: str = "") -> list[object]:
    started = dt.datetime.combine(day, dt.time(10), dt.UTC)
    headers = ["location"] if location else []
    return [str(uuid.uuid4()), "wb1", "r1", probe.name, probe.country, probe.control, started,
            started, name, HOSTER, 443, "https", status, headers,
            [location] if location else [], list(sans), cert, bool(cert), matches, title, body]


WEB_COLUMNS = ["observation_id", "batch_id", "round_id", "probe_name", "probe_country",
               "probe_control", "started_at", "received_at", "name", "address", "port",
               "scheme", "status", "headers.name", "headers.value", "cert_sans",
               "cert_sha256", "has_certificate", "name_matches", "title", "body_sha256"]


def web_rows() -> list[list[object]]:
    title, body = "Kickass Torrents", "c0" * 32
    return [
        _web(CH_CONTROL, BEFORE, "kickasstorrents.to", cert=KAT_CERT, matches=True,
             sans=("DNS:kickasstorrents.to", "DNS:*.kickasstorrents.to", "DNS:kat.sx"),
             title=title, body=body),
        _web(CH_CONTROL, BEFORE, "kickasstorrents.cc", cert=OTHER_CERT, matches=True,
             title=title, body=body),
        _web(CH_CONTROL, BEFORE, "kickasstorrents.org", cert="c3" * 32, matches=True,
             title="Kickass Gardening", body="d4" * 32),
        _web(IT1, BEFORE, "kickasstorrents.to", status=302, location="http://stop.agcom.it/",
             title="Sito oscurato"),
        _web(CH_CONTROL, BEFORE, "canna.to", status=301, location="https://canna-power.to/"),
    ]


class EarlyRow(Row):
    """Measured just after midnight: today's rows are never in the future."""

    def values(self) -> dict[str, object]:
        v = super().values()
        started = dt.datetime.combine(self.day, dt.time(0, 1), dt.UTC)
        return {**v, "started_at": started, "received_at": started + dt.timedelta(seconds=5)}


def dns_rows() -> list[Row]:
    censored = ((16, "blocked by court order"),)
    cand = {"purpose": "candidate"}
    return [
        # control vantage: everything resolves
        *(EarlyRow(NL_CONTROL, day, "cloudflare", d, answers=(a,), extra=x)
          for day in (BEFORE, TODAY)
          for d, a, x in (("example.com", "93.184.215.14", {}),
                          ("kickasstorrents.to", EDGE, {}), ("canna.to", HOSTER, {}),
                          ("kat.sx", KAT_SX, cand if day == BEFORE else {}),
                          ("canna-shop.net", HOSTER, cand), ("footy.net", EDGE, cand))),
        *(EarlyRow(IT1, day, r, "example.com", answers=("93.184.215.14",))
          for day in (BEFORE, TODAY) for r in ("cloudflare", "isp")),
        # Germany: the ISP blocks canna.to (NXDOMAIN where the control resolves)
        *(EarlyRow(DE1, day, "isp", "example.com", answers=("93.184.215.14",))
          for day in (BEFORE, TODAY)),
        EarlyRow(DE1, BEFORE, "isp", "canna.to", rcode=3, flags=0x8183, authority=1),
        # kat.sx as a candidate: the ISP resolves it, Cloudflare blocks it
        EarlyRow(IT1, BEFORE, "isp", "kat.sx", answers=(KAT_SX,), extra=cand),
        EarlyRow(IT1, BEFORE, "cloudflare", "kat.sx", answers=(), ede=censored, extra=cand),
        # today, as a target: the ISP blocks it (stop page), Cloudflare resolves it
        EarlyRow(IT1, TODAY, "isp", "kat.sx", answers=(AGCOM,)),
        EarlyRow(IT1, TODAY, "cloudflare", "kat.sx", answers=(KAT_SX,)),
    ]


def build(dsn: str, database: str) -> ClickHouseDatabase:
    from blockwatch.analysis.fingerprints import load_fingerprints
    from blockwatch.analysis.storage import reclassify

    db = create_schema(dsn, database)
    store_orders(db, orders())
    store_rows(db, dns_rows())
    db.insert("web_observations", WEB_COLUMNS, web_rows())
    reclassify(db, load_fingerprints())
    return db


def main(dsn: str, database: str) -> None:
    db = build(dsn, database)
    discover(db, orders(), [], DiscoveryState())
    db.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
