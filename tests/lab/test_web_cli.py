"""The web follow-up through the probe's CLI, as a user runs it, against real DNS
servers and real nginx: `blockwatch-probe once --format json` records each
blocking behaviour exactly, and what it spools reaches the collector exactly
once, kill -9 in the middle of the follow-ups included.

A world of its own (127.61.0.x, so the session's lab is untouched): NSD as the
root, a public resolver (unbound, UDP and DoH) answering normally, an ISP
resolver (unbound) redirecting one name to the AGCOM stop page 83.224.65.74
(added to this private namespace's lo), an nftables drop of one site's address.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blockwatch.probe.wire import decode_web_observation
from tests.integration.collector_process import CollectorProcess
from tests.lab.nginx import Nginx, Site
from tests.lab.nsd import Nsd
from tests.lab.probe_cli import PROBE, run_probe, write_config
from tests.lab.tlsca import LabCA
from tests.lab.unbound import RpzAction, Unbound
from tests.lab.zones import STOP_PAGE_AGCOM, Rr, lab_root_zone

pytestmark = pytest.mark.lab

ROOT, PUBLIC, ISP = "127.61.0.2", "127.61.0.3", "127.61.0.4"
EDGE, DROPPED, OLD, BAY = "127.61.0.10", "127.61.0.30", "127.61.0.11", "127.61.0.12"
NOTICE = ("Unavailable For Legal Reasons",
          "This site is not available in your country by order of the Court of Milan.")
NFT_TABLE = "bw_web_cli_test"
NAMES = ("kickasstorrents.lab", "blocked.lab", "oldbay.lab", "thepiratebay.lab")


@dataclass
class World:
    ca: Path
    workdir: Path


def _run(*args: str, stdin: str | None = None) -> None:
    done = subprocess.run(list(args), input=stdin, text=True, capture_output=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def world(isolated: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for program in ("nginx", "nft", "openssl", "nsd", "unbound"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (scripts/setup.sh installs it)")
    work = tmp_path_factory.mktemp("webcli")
    ca = LabCA(work / "ca")
    zone = lab_root_zone(ROOT, extra=(
        Rr("kickasstorrents.lab.", "A", EDGE), Rr("blocked.lab.", "A", DROPPED),
        Rr("oldbay.lab.", "A", OLD), Rr("thepiratebay.lab.", "A", BAY),
        Rr("thepiratebay-mirror.lab.", "A", BAY)))
    sites = [
        Site(EDGE, ("kickasstorrents.lab",), ca.issue("edge", "kickasstorrents.lab"),
             status=451, title=NOTICE[0], text=NOTICE[1]),
        Site(STOP_PAGE_AGCOM, (), ca.issue("stop", "stop.agcom.lab"), title="AGCOM Stop Page",
             text="Il sito richiesto non e' raggiungibile (delibera AGCOM)."),
        Site(OLD, ("oldbay.lab",), ca.issue("old", "oldbay.lab"), status=301,
             location="https://thepiratebay-mirror.lab/"),
        Site(BAY, ("thepiratebay.lab", "thepiratebay-mirror.lab"),
             ca.issue("bay", "thepiratebay.lab", "thepiratebay-mirror.lab"),
             title="The Pirate Bay", text="Download music, movies, games."),
    ]
    _run("ip", "addr", "add", f"{STOP_PAGE_AGCOM}/32", "dev", "lo")
    # on input: the SYN leaves and is never answered (Piracy Shield style)
    _run("nft", "-f", "-", stdin=(
        f"table inet {NFT_TABLE} {{\n  chain input {{\n    type filter hook input priority 0;\n"
        f"    ip daddr {DROPPED} tcp dport {{ 80, 443 }} drop\n  }}\n}}\n"))
    try:
        with (Nsd(work / "nsd", ROOT, zone=zone) as nsd,
              Unbound(work / "public", PUBLIC, nsd.upstream,
                      tls=ca.issue("public", "dns.lab.test", PUBLIC)),
              Unbound(work / "isp", ISP, nsd.upstream,
                      blocklist={"kickasstorrents.lab": RpzAction.REDIRECT}),
              Nginx(work / "nginx", sites)):
            yield World(ca.ca_path, work)
    finally:
        subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], check=False,
                       capture_output=True)
        subprocess.run(["ip", "addr", "del", f"{STOP_PAGE_AGCOM}/32", "dev", "lo"],
                       check=False, capture_output=True)


def config(world: World, path: Path, **sections: Any) -> Path:
    resolvers = [
        {"name": "public", "address": PUBLIC},
        {"name": "public-doh", "transport": "doh", "url": f"https://{PUBLIC}/dns-query",
         "ca_file": str(world.ca)},
        {"name": "isp", "address": ISP},
    ]
    return write_config(path, resolvers, identity_checks=False, qtypes=["A"],
                        limits={"timeout_s": 2.0, "listen_window_s": 0.05},
                        web={"allow_non_global": True, "ca_file": str(world.ca),
                             "connect_timeout_s": 1.5, "tls_timeout_s": 3.0,
                             "http_timeout_s": 3.0, "destination_rate": 1000.0},
                        **sections)


def lines(stdout: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return ([r for r in records if r.get("kind") != "web"],
            [r for r in records if r.get("kind") == "web"])


def web_of(web: list[dict[str, Any]], name: str, address: str, port: int) -> dict[str, Any]:
    found = [o for o in web if (o["name"], o["address"], o["port"]) == (name, address, port)]
    assert len(found) == 1, f"{len(found)} follow-ups of {name} {address}:{port}"
    return found[0]


def test_each_web_behaviour_recorded_through_the_cli(world: World, tmp_path: Path) -> None:
    result = run_probe("once", "--format", "json", "-c", str(config(world, tmp_path / "p.toml")),
                       *NAMES)
    dns, web = lines(result.stdout)
    ids = {(m["domain"], m["resolver"]["name"]): m["measurement_id"] for m in dns}

    # the edge refuses the site: 451 with the legal notice, over TLS and plain
    for port in (443, 80):
        edge = web_of(web, "kickasstorrents.lab", EDGE, port)
        assert edge["http"]["status"] == 451
        assert edge["http"]["title"] == NOTICE[0]
        assert NOTICE[1] in edge["http"]["body_prefix"]
    assert web_of(web, "kickasstorrents.lab", EDGE, 443)["tls"]["name_matches"] is True
    # one follow-up for both public paths (UDP and DoH) that named the edge
    assert set(web_of(web, "kickasstorrents.lab", EDGE, 443)["dns_measurement_ids"]) == {
        ids["kickasstorrents.lab", "public"], ids["kickasstorrents.lab", "public-doh"]}

    # the ISP's stop page: its title, and a certificate not for the name
    stop = web_of(web, "kickasstorrents.lab", STOP_PAGE_AGCOM, 443)
    assert stop["http"]["title"] == "AGCOM Stop Page"
    assert stop["tls"]["name_matches"] is False
    assert stop["tls"]["chain_verified"] is True
    assert stop["tls"]["failure"] == "tls_certificate"
    assert stop["dns_measurement_ids"] == [ids["kickasstorrents.lab", "isp"]]
    assert web_of(web, "kickasstorrents.lab", STOP_PAGE_AGCOM, 80)["http"]["title"] == (
        "AGCOM Stop Page")

    # the dropped address: the name resolves on every path, DoH included; connect times out
    for port in (443, 80):
        dropped = web_of(web, "blocked.lab", DROPPED, port)
        assert dropped["connect"]["failure"] == "timeout"
        assert dropped["tls"] is None and dropped["http"] is None
        assert set(dropped["dns_measurement_ids"]) == {
            ids["blocked.lab", r] for r in ("public", "public-doh", "isp")}

    # the old domain points at its mirror: recorded, not followed
    old = web_of(web, "oldbay.lab", OLD, 443)
    assert old["http"]["status"] == 301
    assert ["location", "https://thepiratebay-mirror.lab/"] in old["http"]["headers"]
    assert old["redirects"] == []

    # a certificate naming the mirror too
    bay = web_of(web, "thepiratebay.lab", BAY, 443)
    assert bay["tls"]["certificate"]["sans"] == ["DNS:thepiratebay.lab",
                                                  "DNS:thepiratebay-mirror.lab"]
    assert bay["http"]["title"] == "The Pirate Bay"

    # beside each DNS answer: status, title, certificate match
    isp_line = next(m for m in dns if (m["domain"], m["resolver"]["name"]) == (
        "kickasstorrents.lab", "isp"))
    assert {(w["port"], w["status"], w["title"], w["name_matches"]) for w in isp_line["web"]} == {
        (443, 200, "AGCOM Stop Page", False), (80, 200, "AGCOM Stop Page", None)}
    assert "web follow-up: 5 (name, address) pairs, 10 observations" in result.stderr


_STORED = """
import json, sys
import clickhouse_connect
db = clickhouse_connect.get_client(dsn=sys.argv[1])
rows = db.query("SELECT count(), uniqExact(observation_id) FROM blockwatch.web_observations")
ids = db.query("SELECT lower(hex(observation_id)) FROM blockwatch.web_observations")
print(json.dumps({"rows": rows.result_rows[0][0], "unique": rows.result_rows[0][1],
                  "ids": [r[0] for r in ids.result_rows]}))
"""


def spooled_web(spool: Path) -> set[bytes]:
    try:
        with sqlite3.connect(spool) as db:
            return {decode_web_observation(r[0]).observation_id
                    for r in db.execute("SELECT payload FROM measurements WHERE kind = 1")}
    except sqlite3.OperationalError:    # the probe is still creating its spool
        return set()


def test_kill_9_during_followups_then_restart_stores_each_once(
        world: World, tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path)
    token = tmp_path / "token"
    token.write_text(collector.add_probe("it-web-1", "IT", "--asn", "64500"))
    spool = tmp_path / "spool.db"
    path = config(world, tmp_path / "p.toml", name="it-web-1", credentials_file=str(token),
                  collector={"addresses": [f"unix:{collector.socket}"], "tls": False,
                             "batch_size": 3, "window": 2, "timeout_s": 5},
                  spool={"path": str(spool)}, targets={"domains": list(NAMES)})
    seen: set[bytes] = set()
    try:
        collector.start()
        # kill -9 while the follow-ups run: some observations spooled, more to come
        probe = subprocess.Popen([*PROBE, "once", "-c", str(path)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (spool.exists() and (ids := spooled_web(spool))):
            assert time.monotonic() < deadline, "no web observation was ever spooled"
            assert probe.poll() is None, "probe finished before it could be killed"
            time.sleep(0.01)
        os.kill(probe.pid, signal.SIGKILL)
        probe.wait()
        seen |= ids | spooled_web(spool)
        # restart: another round, and everything left is delivered
        result = run_probe("once", "-c", str(path), "--upload-timeout", "60")
        assert "0 left in the spool" in result.stderr
        assert spooled_web(spool) == set()
    finally:
        collector.stop()
    stored = json.loads(subprocess.run(
        [sys.executable, "-c", _STORED, f"chdb://{collector.data / 'db'}"],
        capture_output=True, text=True, check=True).stdout)
    assert stored["rows"] == stored["unique"]
    assert {bytes.fromhex(i) for i in stored["ids"]} >= seen
    # the restarted round's 10 observations, plus every one the killed round spooled
    assert stored["rows"] >= 10 + len(seen)
