"""A measurement campaign over the multi-country lab world: the collector on
embedded chDB, one probe per country, the rounds of `truth.ROUNDS` with their
policy switches and order imports, and the analysts' reports. Shared by the
end-to-end test and the demo, so the demo shows what the test proves.

- The collector runs in the caller's network namespace and serves a unix
  socket; pathname sockets cross network namespaces, so the probes inside the
  country namespaces reach it with nothing routed.
- Orders are written from the ground truth as YAML and CSV files and loaded
  with `blockwatch-collector targets import`, again whenever a round adds a
  mirror; resolvers and qtypes come from the collector's TOML config, so each
  probe measures its assignment, as in production.
- The probes run with the web follow-up on (the default): after each round's
  DNS they follow every target's answers to the country's web servers
  (tests/lab/countries.py), and their JSON output carries both kinds of line
  (`kind: "web"` for a web observation), kept apart in `RoundResult`.
- Each round runs `blockwatch-probe once` in every country at once, under
  libfaketime with the round's simulated date (FAKETIME="@<date>"): the
  measurements are stamped days apart although the campaign takes seconds.
  FAKETIME_DONT_FAKE_MONOTONIC=1 keeps timeouts real. (libfaketime 0.9.10 then
  breaks `time.sleep` — clock_nanosleep on the real monotonic clock gets a faked
  absolute time, EINVAL — but the probe waits only through asyncio/epoll and
  thread conditions, which work; checked.) The DoT/DoH endpoints the collector
  assigns are verified against the lab CA via SSL_CERT_FILE.
- Mirror discovery (issue 14) is on: the collector derives candidates in a
  pass a second and each probe's check-in gets its window of them, so before
  each round the campaign waits for two discovery passes after the previous
  round (the one running then may have read only part of it): every probe of a
  round gets the same candidates. An approval (`truth.approvals`) is
  `blockwatch-collector targets approve` under the round's faked clock, so the
  mirror is added on the round's date.
- Verdicts: the collector classifies in the background after a settle time
  (SETTLE_S, a few seconds here; 60 s by default), site verdicts WEB_SETTLE_S
  after the DNS measurement; the campaign waits for both
  (`blockwatch report --wait`), reclassifies
  (`blockwatch reclassify --collector`: the same verdicts again), then reads
  reports with `blockwatch report … --format json --collector`.
"""

from __future__ import annotations

import concurrent.futures
import csv
import datetime as dt
import glob
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.lab import truth, truthlayers
from tests.lab.countries import World, multi_country
from tests.lab.probe_cli import write_config

PY = sys.executable
COLLECTOR = [PY, "-m", "blockwatch.collector"]
PROBE = [PY, "-m", "blockwatch.probe"]
ANALYST = [PY, "-c", "from blockwatch.analysis.cli import main; main()"]
ANALYST_NAME = "lab-analyst"
# The collector's settle time (`serve --settle`): the lab's control probe
# uploads with the others, so a few seconds suffice (production: 60 s).
SETTLE_S = 2.0
# The collector's web_settle_s (config file): a site verdict waits this long after
# its DNS measurement arrived, for the follow-ups. A lab probe uploads a round's
# follow-ups within about 10-20 s of its DNS on a loaded 2-core machine; a
# follow-up later than this would miss its site verdict until a reclassify (the
# collector counts and reports it: blockwatch_late_follow_ups_total). `report
# --wait` waits until every DNS measurement has its site verdict.
WEB_SETTLE_S = 30.0


class CampaignError(RuntimeError):
    """A command of the campaign failed; the message carries its stderr."""


def faketime_library() -> str | None:
    """libfaketime's preload library (Debian package `faketime`), if installed."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


def _run(argv: list[str], *, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                            check=False)
    if result.returncode != 0:
        raise CampaignError(f"{' '.join(argv[:6])} … exited {result.returncode}:\n"
                            f"{result.stderr[-4000:]}")
    return result.stdout


# -- files written from the ground truth ---------------------------------------------------


def collector_config(path: Path) -> Path:
    lines = [f"web_settle_s = {WEB_SETTLE_S}", "",
             "[assignment]", f"qtypes = {json.dumps(list(truth.QTYPES))}",
             "interval_s = 3600", "jitter_s = 0",
             # mirror candidates ride along in every round (issue 14); a discovery
             # pass a second, so the campaign need not wait long between rounds
             f"candidate_share = {truth.CANDIDATE_SHARE}",
             f"discovery_interval_s = {truth.DISCOVERY_INTERVAL_S}"]
    for op in truth.OPERATORS:
        for e in op.endpoints:
            lines += ["", "[[assignment.resolvers]]", f'name = "{e.name}"',
                      f'transport = "{e.transport}"']
            if op.name == "isp":
                lines.append('address = "system"')   # resolv.conf of the probe's namespace
            elif e.transport == "doh":
                lines.append(f'url = "{op.doh_url}"')
            else:
                lines.append(f'address = "{op.address}"')
            if e.transport == "dot":
                lines.append(f'tls_name = "{op.tls_name}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def order_files(directory: Path, round_number: int) -> list[Path]:
    """The orders as known before `round_number`: later mirrors not yet reported."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for order in truth.ORDERS:
        # an approved mirror is the analyst's decision, kept apart from the file
        listed = [(s, d) for s, d in order.domains()
                  if d.added_round <= round_number and not d.approved]

        def added(d: truth.Domain) -> str:
            return truth.round_by_number(d.added_round).day.isoformat() \
                if d.added_round > 1 else ""

        if order.file_format == "csv":
            # a CSV row names plain resolvers: one per intermediary
            assert all(g.resolvers == (g.name,) and not g.networks
                       for g in truthlayers.intermediaries(order)), order.order_id
            out = io.StringIO()
            w = csv.writer(out, lineterminator="\n")
            w.writerow(["order_id", "authority", "title", "issued", "deadline", "countries",
                        "intermediaries", "site", "domain", "kind", "added"])
            for i, (s, d) in enumerate(listed):
                head = [order.authority, order.title, order.issued.isoformat(),
                        order.deadline.isoformat(), " ".join(order.countries),
                        " ".join(order.intermediaries)] if i == 0 else [""] * 6
                w.writerow([order.order_id, *head, s.name, d.name,
                            "mirror" if d.mirror else "domain", added(d)])
            for control in truth.CONTROL_DOMAINS:
                w.writerow(["", "", "", "", "", "", "", "", control, "control", ""])
            path = directory / f"{order.order_id}.csv"
            path.write_text(out.getvalue())
        else:
            sites = []
            for site in order.sites:
                doms = [d for s, d in listed if s is site]
                entry: dict[str, Any] = {"name": site.name,
                                         "domains": [d.name for d in doms if not d.mirror]}
                mirrors = [{"domain": d.name, **({"added": added(d)} if added(d) else {})}
                           for d in doms if d.mirror]
                if mirrors:
                    entry["mirrors"] = mirrors
                sites.append(entry)
            # one intermediary per operator: its resolvers, and its edge as a network
            groups: list[Any] = [
                g.name if g.resolvers == (g.name,) and not g.networks else
                {"name": g.name, "resolvers": list(g.resolvers),
                 **({"networks": list(g.networks)} if g.networks else {})}
                for g in truthlayers.intermediaries(order)]
            doc = {"orders": [{"id": order.order_id, "authority": order.authority,
                               "title": order.title, "issued": order.issued.isoformat(),
                               "deadline": order.deadline.isoformat(),
                               "countries": list(order.countries),
                               "intermediaries": groups, "sites": sites}],
                   "control_domains": list(truth.CONTROL_DOMAINS)}
            path = directory / f"{order.order_id}.yaml"
            path.write_text(f"# lab world order, written from tests/lab/truth.py\n"
                            f"{yaml.safe_dump(doc, sort_keys=False)}")
        paths.append(path)
    return paths


# -- the campaign --------------------------------------------------------------------------


@dataclass
class ProbeSetup:
    country: truth.Country
    config: Path
    outputs: Path        # one JSON lines file per round


@dataclass
class RoundResult:
    round: truth.Round
    measurements: dict[str, list[dict[str, Any]]]     # probe name -> DNS measurements (JSON)
    seconds: float
    changes: list[str] = field(default_factory=list)
    stderr: dict[str, str] = field(default_factory=dict)
    web: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # web observations


@dataclass
class Campaign:
    root: Path
    world: World
    data: Path
    socket: Path
    analyst_token: Path
    probes: dict[str, ProbeSetup]
    collector: subprocess.Popen[bytes] | None
    log: Callable[[str], None]
    rounds: list[RoundResult] = field(default_factory=list)
    collector_log: Path | None = None
    approved: list[str] = field(default_factory=list)    # `targets approve` output lines

    def discovery_passes(self) -> int:
        """Discovery passes the collector has logged so far."""
        if self.collector_log is None or not self.collector_log.exists():
            return 0
        return self.collector_log.read_text(errors="replace").count("event=mirror_candidates")

    def wait_discovery(self, passes: int, timeout_s: float = 60) -> None:
        """Until the collector has logged `passes` discovery passes in all."""
        deadline = time.monotonic() + timeout_s
        while self.discovery_passes() < passes:
            if self.collector is None or self.collector.poll() is not None:
                raise CampaignError("the collector is not running")
            if time.monotonic() > deadline:
                raise CampaignError(f"no discovery pass within {timeout_s:.0f}s (seen "
                                    f"{self.discovery_passes()} of {passes})")
            time.sleep(0.2)

    def _faked(self, rnd: truth.Round) -> dict[str, str]:
        library = faketime_library()
        if library is None:
            raise CampaignError("libfaketime is not installed (Debian package faketime)")
        return {**os.environ, "LD_PRELOAD": library,
                "FAKETIME": "@" + rnd.at.strftime("%Y-%m-%d %H:%M:%S"),
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                "SSL_CERT_FILE": str(self.world.ca.ca_path)}

    def approve(self, rnd: truth.Round) -> list[str]:
        """The analyst's approvals before a round, on the round's clock."""
        lines = []
        for order, site, domain in truth.approvals(rnd.number):
            lines.append(_run([*COLLECTOR, "targets", "approve", domain.name, "--order",
                               order.order_id, "--site", site.name, "--data-dir",
                               str(self.data)], env=self._faked(rnd)).strip())
        self.approved += lines
        return lines

    # -- collector side
    def collector_cli(self, *args: str) -> str:
        return _run([*COLLECTOR, *args, "--data-dir", str(self.data)])

    def import_orders(self, round_number: int) -> list[str]:
        return [self.collector_cli("targets", "import", str(p)).strip()
                for p in order_files(self.root / "orders", round_number)]

    def stop_collector(self) -> None:
        proc, self.collector = self.collector, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    # -- probes
    def run_round(self, rnd: truth.Round) -> RoundResult:
        # two passes after the last round's uploads (or the first pass, before round
        # 1): one already running may have read only part of them
        self.wait_discovery(self.discovery_passes() + 2 if self.rounds else 1)
        changes = self.world.enter_round(rnd.number) if rnd.number > 1 else []
        if truth.imports_before(rnd.number) and rnd.number > 1:
            changes += self.import_orders(rnd.number)
        if truth.approvals(rnd.number):
            changes += self.approve(rnd)
            # the approval takes the name out of the candidates: a pass must see it
            self.wait_discovery(self.discovery_passes() + 2)
        env = self._faked(rnd)
        started = time.monotonic()
        procs = {}
        for name, p in self.probes.items():
            out = (p.outputs / f"round-{rnd.number}.jsonl").open("wb")
            err = (p.outputs / f"round-{rnd.number}.stderr").open("wb")
            ns = self.world.countries[p.country.code].netns
            procs[name] = subprocess.Popen(
                ns.exec_argv([*PROBE, "once", "--format", "json", "-c", str(p.config)]),
                stdout=out, stderr=err, env=env)
            out.close()
            err.close()
        failed = []
        try:
            for name, proc in procs.items():
                try:
                    code = proc.wait(120)
                except subprocess.TimeoutExpired:
                    code = -1
                if code != 0:
                    failed.append(f"{name} exited {code}: "
                                  + (self.probes[name].outputs / f"round-{rnd.number}.stderr")
                                  .read_text()[-2000:])
        finally:
            # A probe left running would keep its namespace alive after teardown.
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if failed:
            raise CampaignError(f"round {rnd.number}: " + "\n".join(failed))
        lines = {name: [json.loads(line) for line in
                        (p.outputs / f"round-{rnd.number}.jsonl").read_text().splitlines()
                        if line.strip()] for name, p in self.probes.items()}
        measurements = {name: [r for r in rows if r.get("kind") != "web"]
                        for name, rows in lines.items()}
        web = {name: [r for r in rows if r.get("kind") == "web"] for name, rows in lines.items()}
        stderr = {name: (p.outputs / f"round-{rnd.number}.stderr").read_text()
                  for name, p in self.probes.items()}
        result = RoundResult(rnd, measurements, time.monotonic() - started, changes, stderr,
                             web)
        self.rounds.append(result)
        return result

    def run_all(self, on_round: Callable[[RoundResult], None] | None = None) -> None:
        for rnd in truth.ROUNDS:
            result = self.run_round(rnd)
            if on_round is not None:
                on_round(result)

    # -- analysts
    def analyst(self, *args: str, timeout: float = 180) -> str:
        """`blockwatch …` against the running collector's Reports RPC."""
        return _run([*ANALYST, *args, "--collector", f"unix:{self.socket}",
                     "--token-file", str(self.analyst_token)], timeout=timeout)

    def wait_classified(self, timeout_s: float = 240) -> float:
        """Until the collector's background pass has classified everything
        (`report --wait`): DNS verdicts a settle time (SETTLE_S) after a measurement
        arrived, as control measurements may still be on their way, and site
        verdicts WEB_SETTLE_S after it, with its follow-ups' web verdicts.
        Returns the seconds waited."""
        started = time.monotonic()
        self.analyst("report", "probes", "--format", "json", "--wait", "--wait-timeout",
                     str(timeout_s), timeout=timeout_s + 60)
        return time.monotonic() - started

    def reclassify(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.analyst("reclassify", "--format", "json"))
        return result

    def report(self, name: str, *args: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(
            self.analyst("report", name, "--format", "json", *args))
        return rows

    def reports(self, requests: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
        """Several reports at once (each CLI call spends most of its time starting up)."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            futures = {key: pool.submit(self.report, argv[0], *argv[1:])
                       for key, argv in requests.items()}
            return {key: f.result() for key, f in futures.items()}

    def recorded_ids(self) -> dict[str, list[str]]:
        """Per probe, the measurement ids the probe printed (its record of the round)."""
        out: dict[str, list[str]] = {}
        for result in self.rounds:
            for probe, rows in result.measurements.items():
                out.setdefault(probe, []).extend(r["measurement_id"] for r in rows)
        return out

    def candidates_measured(self) -> dict[int, dict[str, frozenset[str]]]:
        """Per round and probe, the candidates the probe measured (its assignment's
        window, purpose `candidate`)."""
        return {r.round.number: {probe: frozenset(m["domain"] for m in rows
                                                  if m.get("purpose") == "candidate")
                                 for probe, rows in r.measurements.items()}
                for r in self.rounds}

    def recorded_web_ids(self) -> dict[str, list[str]]:
        """Per probe, the web observation ids the probe printed."""
        out: dict[str, list[str]] = {}
        for result in self.rounds:
            for probe, rows in result.web.items():
                out.setdefault(probe, []).extend(r["observation_id"] for r in rows)
        return out


def _wait_for_socket(proc: subprocess.Popen[bytes], sock: Path, log_path: Path,
                     timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise CampaignError("collector did not start:\n" + log_path.read_text()[-4000:])
        time.sleep(0.1)


@contextmanager
def campaign(root: Path, log: Callable[[str], None] = lambda _: None,
             data_dir: Path | None = None) -> Iterator[Campaign]:
    """The world, a serving collector with orders, probes and an analyst; all of it
    stopped on exit. Rounds are the caller's (`run_all` or `run_round`).
    `data_dir`: the collector's data directory (default root/collector), for a
    caller that keeps the database afterwards (the demo)."""
    root.mkdir(parents=True, exist_ok=True)
    log("starting the lab world: one network namespace per country, only loopback inside")
    with multi_country(root / "world") as world:
        for code, lab in world.countries.items():
            daemons = ", ".join(f"{name} {type(d).__name__.lower()} {d.address}"
                                for name, d in lab.resolvers.items())
            log(f"  {code} (netns {lab.netns.name}): NSD root, {daemons}")
            hosts = [h for h in truth.WEB_HOSTS if h.serves_in(code)]
            drops = [b.address for b in truth.IP_BLOCKS if b.country == code]
            log(f"  {code} web: nginx on {len(hosts)} addresses (lab-CA certificates)"
                + "".join(f", nftables drops {a}" for a in drops))
        data = data_dir or root / "collector"
        data.mkdir(exist_ok=True)
        config = collector_config(root / "collector.toml")
        sock = data / "collector.sock"
        setup = Campaign(root, world, data, sock, root / "analyst.token", {}, None, log,
                         collector_log=root / "collector.log")
        log("importing the orders (blockwatch-collector targets import):")
        for order, line in zip(truth.ORDERS, setup.import_orders(1), strict=True):
            log(f"  {order.order_id} ({order.file_format}): {line}")
        log("registering the probes (blockwatch-collector probes add):")
        for c in truth.COUNTRIES:
            argv = ["probes", "add", c.probe, "--country", c.code, "--asn", str(c.asn)]
            token = setup.collector_cli(*argv, *(["--control"] if c.control else [])) \
                .strip().split()[-1]
            token_file = root / f"{c.probe}.token"
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            outputs = root / "probes" / c.probe
            outputs.mkdir(parents=True, exist_ok=True)
            probe_config = write_config(
                root / f"{c.probe}.toml", [], name=c.probe, credentials_file=str(token_file),
                identity_checks=False,
                collector={"addresses": [f"unix:{sock}"], "tls": False},
                spool={"path": str(outputs / "spool.db")},
                # 6 s: a round's first DoT/DoH query pays the TLS handshake, and on a
                # busy 2-core machine it took 3.1 s once (a timeout reads as a drop);
                # the ISP's real drop costs 6 s a round, alongside the other queries.
                limits={"timeout_s": 6.0, "listen_window_s": 0.1},
                # The web follow-up on, as by default: the Piracy Shield drop costs its
                # connect timeout once a round in Italy.
                web={"enabled": True, "connect_timeout_s": 3.0})
            setup.probes[c.probe] = ProbeSetup(c, probe_config, outputs)
            role = ", control vantage" if c.control else ""
            log(f"  probe {c.probe}: {c.name}, AS{c.asn}{role}")
        analyst = setup.collector_cli("analysts", "add", ANALYST_NAME).strip().split()[-1]
        setup.analyst_token.write_text(analyst + "\n")
        setup.analyst_token.chmod(0o600)
        log_path = root / "collector.log"
        with log_path.open("wb") as collector_log:
            setup.collector = subprocess.Popen(
                [*COLLECTOR, "serve", "--config", str(config), "--data-dir", str(data),
                 "--unix", str(sock), "--settle", str(SETTLE_S)],
                stderr=collector_log, stdout=subprocess.DEVNULL)
        try:
            _wait_for_socket(setup.collector, sock, log_path)
            log(f"collector serving on unix:{sock} (embedded chDB in {data / 'db'})")
            yield setup
        finally:
            setup.stop_collector()


def started_round(stamp: str) -> int | None:
    """The round whose simulated window contains an ISO timestamp from a report."""
    at = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    for rnd in truth.ROUNDS:
        if rnd.at <= at < rnd.at + dt.timedelta(hours=1):
            return rnd.number
    return None


def stored(db_dir: Path) -> dict[str, Any]:
    """What the stopped collector stored (tests/lab/stored.py and stored_web.py, in
    their own process: chDB admits one database path per process)."""
    here = Path(__file__)
    result: dict[str, Any] = json.loads(_run([PY, str(here.with_name("stored.py")),
                                              f"chdb://{db_dir}"]))
    result["web"] = json.loads(_run([PY, str(here.with_name("stored_web.py")),
                                     f"chdb://{db_dir}"]))
    return result


def report_db(db_dir: Path, name: str, *args: str) -> list[dict[str, Any]]:
    """A report straight from the chDB path, once no collector holds it."""
    rows: list[dict[str, Any]] = json.loads(_run(
        [*ANALYST, "report", name, "--format", "json", *args, "--db", f"chdb://{db_dir}"]))
    return rows
