"""The real playbooks deploy a collector and a probe onto a Debian host booted
under systemd, and the services run, restart, survive kill -9 and a reboot.

The host is a systemd-nspawn container with only its own loopback; ansible
reaches it from the host through nsenter (connection_plugins/). One machine
holds both roles, as two inventory groups of one host: the probe registers at
the collector with the same delegate_to path a fleet uses. The probe measures
through unbound inside the container (a small local zone).

The tests run in order and share the machine: each step is what an operator
does next.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.ansible.harness import REPO, PlaybookRun, ansible_tool, build_wheel, run_playbook
from tests.lab.tlsca import LabCA, ServerCert
from tests.systemd.machine import Machine
from tests.systemd.rootfs import WHEELHOUSE

pytestmark = [
    pytest.mark.systemd,
    pytest.mark.ansible,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(ansible_tool("ansible-playbook") is None,
                       reason="ansible-core is not installed (pip install -e .[dev])"),
]

HOST = "blockwatch-host"
PROBE = "it-milano-1"
COLLECTOR_UNIT, PROBE_UNIT = "blockwatch-collector", "blockwatch-probe"
SOCKET = "/run/blockwatch/collector.sock"
COLLECTOR_BIN = "/opt/blockwatch-collector/bin"
PLUGINS = Path(__file__).resolve().parent / "connection_plugins"
ORDERS = REPO / "collector/blockwatch/collector/examples/milan-cloudflare.yaml"
# today's exposure scores (docs/ansible.md): the units may not get worse
EXPOSURE_MAX = {PROBE_UNIT: 1.7, COLLECTOR_UNIT: 1.9}
ROUND_LINE = re.compile(r"round (\S+): (\d+) measurements in")


@dataclass
class Deployment:
    machine: Machine
    workdir: Path
    wheel: Path
    ca: LabCA
    runs: list[PlaybookRun] = field(default_factory=list)

    @functools.cached_property
    def server_cert(self) -> ServerCert:
        return self.ca.issue("collector", "127.0.0.1", "localhost")

    def inventory(self) -> Path:
        """The inventory, with the container's current init PID (it changes on reboot)."""
        server = self.server_cert
        host = {
            "ansible_connection": "blockwatch_nsenter",
            "blockwatch_nsenter_pid": self.machine.pid,
            "ansible_python_interpreter": "/usr/bin/python3",
            # offline host: the wheel from the controller, dependencies from the
            # root's wheelhouse
            "blockwatch_collector_wheel": str(self.wheel),
            "blockwatch_collector_pip_no_index": True,
            "blockwatch_collector_pip_find_links": [WHEELHOUSE],
            "blockwatch_collector_listen": ["127.0.0.1:4443"],
            "blockwatch_collector_tls_cert": server.cert_path.read_text(),
            "blockwatch_collector_tls_key": server.key_path.read_text(),
            "blockwatch_collector_grace_s": 5,
            "blockwatch_collector_orders_files": [str(ORDERS)],
            # the collector's assignment sets the probes' schedule: a round every 15 s
            "blockwatch_collector_assignment_interval_s": 15,
            "blockwatch_collector_assignment_jitter_s": 0,
            "blockwatch_probe_wheel": str(self.wheel),
            "blockwatch_probe_pip_no_index": True,
            "blockwatch_probe_pip_find_links": [WHEELHOUSE],
            "blockwatch_probe_name": PROBE,
            "blockwatch_probe_country": "IT",
            "blockwatch_probe_asn": 64500,
            "blockwatch_probe_collector_host": HOST,
            "blockwatch_probe_collector_addresses": ["127.0.0.1:4443"],
            "blockwatch_probe_collector_ca": self.ca.ca_path.read_text(),
            # the system resolver is unbound (the container's resolv.conf)
            "blockwatch_probe_resolvers": [{"name": "isp", "address": "system"}],
            # ... and this one while it has no assignment yet
            "blockwatch_probe_schedule_interval_s": 15,
            "blockwatch_probe_schedule_jitter_s": 0,
            "blockwatch_probe_limits_timeout_s": 2,
            # a check-in gives up after 4x this: rounds go on while the collector is down
            "blockwatch_probe_collector_timeout_s": 5,
        }
        path = self.workdir / "hosts.yml"
        path.write_text(yaml.safe_dump({"all": {"children": {
            "collectors": {"hosts": {HOST: host}},
            "probes": {"hosts": {HOST: None}},
        }}}))
        return path

    def playbook(self, *args: str) -> PlaybookRun:
        run = run_playbook("site.yml", self.inventory(), self.workdir, *args, timeout=900,
                           extra_env={"ANSIBLE_CONNECTION_PLUGINS": str(PLUGINS)})
        self.runs.append(run)
        return run


@pytest.fixture(scope="module")
def deployment(machine: Machine) -> Iterator[Deployment]:
    workdir = machine.workdir / "controller"
    workdir.mkdir()
    # BLOCKWATCH_WHEEL_REF=HEAD: the committed sources, not the working tree's
    wheel = build_wheel(workdir / "build", os.environ.get("BLOCKWATCH_WHEEL_REF", ""))
    deployment = Deployment(machine, workdir, wheel, LabCA(workdir / "ca"))
    started = time.monotonic()
    first = deployment.playbook()
    assert first.returncode == 0, first.output[-8000:]
    print(f"systemd_first_playbook_s={time.monotonic() - started:.1f}")
    yield deployment


# -- helpers ----------------------------------------------------------------------------

def _show(machine: Machine, unit: str, *props: str) -> dict[str, str]:
    out = machine.run(["systemctl", "show", unit, *(f"--property={p}" for p in props)]).check()
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def _wait_active(machine: Machine, unit: str, *, not_pid: str = "", timeout: float = 90) -> str:
    """The unit's MainPID once it is active (with a new PID when ``not_pid`` is given)."""
    deadline = time.monotonic() + timeout
    while True:
        state = _show(machine, unit, "ActiveState", "MainPID")
        if state["ActiveState"] == "active" and state["MainPID"] not in ("0", not_pid):
            return state["MainPID"]
        if time.monotonic() > deadline:
            journal = machine.run(["journalctl", "-u", unit, "-n", "40", "--no-pager"]).stdout
            pytest.fail(f"{unit} is {state} after {timeout:.0f}s:\n{journal}")
        time.sleep(0.5)


def _health(machine: Machine) -> str:
    """The collector's gRPC health over its unix socket, asked as the role's verify does."""
    script = REPO / "ansible/roles/blockwatch_collector/files/grpc_health_check.py"
    result = machine.run([f"{COLLECTOR_BIN}/python", "-", f"unix:{SOCKET}"],
                         input=script.read_text(), timeout=60)
    return (result.stdout + result.stderr).strip() if result.returncode == 0 else \
        f"failed ({result.returncode}): {result.stderr.strip()}"


def _wait_health(machine: Machine, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while (answer := _health(machine)).startswith("failed") and time.monotonic() < deadline:
        time.sleep(1)
    return answer


def _rounds(machine: Machine) -> dict[str, int]:
    """Every finished round the probe logged (all boots): round id -> measurements."""
    journal = machine.run(["journalctl", "-u", PROBE_UNIT, "-o", "cat", "--no-pager"]).check()
    return {m[1]: int(m[2]) for m in ROUND_LINE.finditer(journal.stdout)}


def _wait_rounds(machine: Machine, more_than: int, timeout: float = 120) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while len(rounds := _rounds(machine)) <= more_than:
        if time.monotonic() > deadline:
            journal = machine.run(["journalctl", "-u", PROBE_UNIT, "-n", "30", "--no-pager"])
            pytest.fail(f"the probe finished {len(rounds)} rounds, wanted more than "
                        f"{more_than}:\n{journal.stdout}")
        time.sleep(1)
    return rounds


def _analyst_report(machine: Machine, report: str, *args: str) -> list[dict[str, object]]:
    """`blockwatch report REPORT ARGS` through the collector's Reports RPC, as an analyst."""
    token = "/root/alice.token"
    if not machine.path(token).exists():
        added = machine.run([f"{COLLECTOR_BIN}/blockwatch-collector", "analysts", "add", "alice",
                             "--config", "/etc/blockwatch/collector.toml"],
                            user="blockwatch-collector").check()
        machine.write(token, added.stdout.strip() + "\n", mode=0o600)
    out = machine.run([f"{COLLECTOR_BIN}/blockwatch", "report", report, "--collector",
                       f"unix:{SOCKET}", "--token-file", token, "--format", "json",
                       *args]).check()
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _stored(machine: Machine) -> int:
    (row,) = [r for r in _analyst_report(machine, "probes") if r["probe"] == PROBE]
    return int(str(row["measurements"]))


def _wait_stored(machine: Machine, at_least: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while (stored := _stored(machine)) < at_least:
        assert time.monotonic() < deadline, f"{stored} of {at_least} measurements stored"
        time.sleep(2)
    return stored


def _exposure(machine: Machine, unit: str, *, offline: bool) -> float:
    target = f"/etc/systemd/system/{unit}.service" if offline else f"{unit}.service"
    out = machine.run(["systemd-analyze", "security", "--no-pager",
                       f"--offline={'yes' if offline else 'no'}", target]).check()
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", out.stdout)
    assert m, out.stdout[-2000:]
    return float(m[1])


# -- the operator's day -----------------------------------------------------------------

def test_playbook_deploys_and_starts_both_hardened_services(deployment: Deployment) -> None:
    machine = deployment.machine
    first = deployment.runs[0]
    assert first.recap()[HOST].failed == 0
    # the roles managed the services (systemd is init here) and verified them
    for task in ("Enable and start the collector service", "Enable and start the probe service"):
        assert first.task_results(task) == ["changed"], task
    for task in ("Ask the collector's gRPC health service over the unix socket",
                 "Scrape the collector's Prometheus metrics",
                 "Check the config, every resolver and the collector with blockwatch-probe check"):
        assert first.task_results(task) == ["ok"], task
    for unit, user in ((COLLECTOR_UNIT, "blockwatch-collector"), (PROBE_UNIT, "blockwatch-probe")):
        _wait_active(machine, unit)
        props = _show(machine, unit, "User", "UnitFileState", "NoNewPrivileges",
                      "ProtectSystem", "SystemCallFilter")
        assert props["User"] == user and props["UnitFileState"] == "enabled", props
        assert props["NoNewPrivileges"] == "yes" and props["ProtectSystem"] == "strict", props
        assert props["SystemCallFilter"].strip(), props
    # the collector's engine lowers its analysis threads (CAP_SYS_NICE, nothing
    # else) and its merge threads (no privilege, but the system call filter must let it)
    caps = _show(machine, COLLECTOR_UNIT, "AmbientCapabilities", "CapabilityBoundingSet")
    assert caps == {"AmbientCapabilities": "cap_sys_nice",
                    "CapabilityBoundingSet": "cap_sys_nice"}, caps
    journal = machine.run(["journalctl", "-u", COLLECTOR_UNIT, "-o", "cat", "--no-pager"]
                          ).check().stdout
    cores = machine.run(["python3", "-c", "import os; print(os.cpu_count())"]).check()
    assert re.search(r"event=serving .*engine_threads_lowered=True background_threads="
                     + cores.stdout.strip() + r" merge_threads_lowered=[1-9]", journal
                     ), journal[-3000:]
    # the suspect lines are in force for the running probe, not only in its file
    probe = _show(machine, PROBE_UNIT, "MemoryDenyWriteExecute", "PrivateUsers")
    assert probe == {"MemoryDenyWriteExecute": "yes", "PrivateUsers": "yes"}, probe
    assert "SERVING" in _wait_health(machine)


def test_exposure_stays_at_or_below_todays(deployment: Deployment) -> None:
    """`systemd-analyze security` inside: of the running units, and of the unit
    files alone (--offline, what the roles check and the documented figures)."""
    for offline in (False, True):
        scores = {unit: _exposure(deployment.machine, unit, offline=offline)
                  for unit in EXPOSURE_MAX}
        for unit, score in scores.items():
            print(f"systemd_exposure_{'offline_' if offline else ''}"
                  f"{unit.replace('-', '_')}={score}")
        assert all(scores[u] <= EXPOSURE_MAX[u] for u in scores), scores


def test_probe_measures_through_unbound_into_the_collector(deployment: Deployment) -> None:
    machine = deployment.machine
    rounds = _wait_rounds(machine, 0)
    assert all(n > 0 for n in rounds.values()), rounds
    stored = _wait_stored(machine, sum(rounds.values()))
    print(f"systemd_first_rounds={len(rounds)}\nsystemd_first_stored={stored}")
    # no failures: with no network at all, every answer came from unbound
    # (what it answered is checked in the verdicts, below)
    (row,) = [r for r in _analyst_report(machine, "probes") if r["probe"] == PROBE]
    assert row["failures"] == 0, row


def test_restart_brings_both_back(deployment: Deployment) -> None:
    machine = deployment.machine
    before = {u: _wait_active(machine, u) for u in EXPOSURE_MAX}
    machine.run(["systemctl", "restart", COLLECTOR_UNIT, PROBE_UNIT]).check()
    for unit in EXPOSURE_MAX:
        _wait_active(machine, unit, not_pid=before[unit])
    assert "SERVING" in _wait_health(machine)
    done = len(_rounds(machine))
    _wait_rounds(machine, done)


def _spooled(machine: Machine) -> int:
    """Measurements in the probe's spool, not yet acknowledged by the collector."""
    query = ("import sqlite3\n"
             "db = sqlite3.connect('file:/var/lib/blockwatch-probe/spool.db?mode=ro', uri=True)\n"
             "print(db.execute('SELECT count(*) FROM measurements').fetchone()[0])\n")
    return int(machine.run(["python3", "-c", query]).check().stdout)


def _kill_9(machine: Machine, unit: str) -> None:
    """kill -9 of the main PID; Restart= must bring the unit back."""
    pid = _wait_active(machine, unit)
    restarts = int(_show(machine, unit, "NRestarts")["NRestarts"])
    machine.run(["kill", "-9", pid]).check()
    _wait_active(machine, unit, not_pid=pid, timeout=120)
    assert int(_show(machine, unit, "NRestarts")["NRestarts"]) == restarts + 1


def test_kill_9_is_restarted_and_loses_nothing(deployment: Deployment) -> None:
    machine = deployment.machine
    _kill_9(machine, COLLECTOR_UNIT)
    assert "SERVING" in _wait_health(machine)
    # the probe killed while it holds measurements the collector has not acked:
    # the collector is down for one round, so that round waits in the spool
    machine.run(["systemctl", "stop", COLLECTOR_UNIT]).check()
    rounds = _wait_rounds(machine, len(_rounds(machine)))
    spooled = _spooled(machine)
    print(f"systemd_spooled_at_kill={spooled}")
    assert spooled > 0
    _kill_9(machine, PROBE_UNIT)
    machine.run(["systemctl", "start", COLLECTOR_UNIT]).check()
    assert "SERVING" in _wait_health(machine)
    # the restarted probe delivers what the killed one spooled
    _wait_stored(machine, sum(rounds.values()))
    deadline = time.monotonic() + 60
    while _spooled(machine) and time.monotonic() < deadline:
        time.sleep(1)
    assert _spooled(machine) == 0


def test_reboot_brings_both_services_back(deployment: Deployment) -> None:
    machine = deployment.machine
    done = len(_rounds(machine))
    took = machine.reboot()
    print(f"systemd_reboot_s={took:.1f}")
    for unit in EXPOSURE_MAX:
        _wait_active(machine, unit)
    assert "SERVING" in _wait_health(machine)
    rounds = _wait_rounds(machine, done)
    _wait_stored(machine, sum(rounds.values()))


def test_journal_shows_readable_logs(deployment: Deployment) -> None:
    machine = deployment.machine
    probe = machine.run(["journalctl", "-u", PROBE_UNIT, "--no-pager"]).check().stdout
    collector = machine.run(["journalctl", "-u", COLLECTOR_UNIT, "--no-pager"]).check().stdout
    assert ROUND_LINE.search(probe), probe[-2000:]
    # kill -9 and the reboot are in the operator's view of the unit
    assert "status=9/KILL" in probe and "status=9/KILL" in collector
    assert "-- Boot " in probe or probe.count("Started blockwatch-probe") >= 3
    for log in (probe, collector):
        assert "Traceback" not in log, log[-3000:]
        # SystemCallErrorNumber=EPERM: a filtered syscall fails quietly; say it here
        denied = [line for line in log.splitlines()
                  if re.search(r"not permitted|EPERM|Permission denied", line)]
        assert not denied, denied
    print(f"systemd_journal_lines_probe={probe.count(chr(10))}")
    print(f"systemd_journal_lines_collector={collector.count(chr(10))}")


def test_second_playbook_run_changes_nothing(deployment: Deployment) -> None:
    second = deployment.playbook()
    assert second.returncode == 0, second.output[-8000:]
    changed = re.findall(r"^TASK \[([^\]]*)\][^\n]*\n(?:[^\n]*\n)*?changed: ", second.output,
                         re.M)
    assert second.recap()[HOST].changed == 0, changed
    assert second.task_results("Register the probe at the collector and receive its token") \
        == ["skipping"]


def test_analyst_sees_the_isp_block_measured_through_unbound(deployment: Deployment) -> None:
    """The DNS verdicts (classified in the hardened collector) show unbound's
    answers: the AGCOM stop page for thepiratebay, nothing blocked for
    kickasstorrents. The site layer blocks nothing either: with no network,
    kickasstorrents' follow-ups to its Cloudflare address fail (inconclusive)."""
    def effectiveness(layer: str) -> dict[tuple[object, object], dict[str, object]]:
        return {(r["resolver"], r["site"]): r for r in _analyst_report(
            deployment.machine, "effectiveness", "--layer", layer)}

    deadline = time.monotonic() + 180   # classification waits for measurements to settle
    while True:
        rows, sites = effectiveness("dns"), effectiveness("site")
        tpb, kat = rows.get(("isp", "thepiratebay")), rows.get(("isp", "kickasstorrents"))
        kat_site = sites.get(("isp", "kickasstorrents"))
        # rows appear with the first verdicts, conclusive or not: wait for both
        if tpb and kat and kat_site and int(str(tpb["total"])) > 0 \
                and int(str(kat["total"])) > 0:
            break
        assert time.monotonic() < deadline, (rows, sites)
        time.sleep(5)
    assert tpb["blocked"] == tpb["total"] and tpb["method"] == "sinkhole", tpb
    assert kat["blocked"] == 0, kat
    assert kat_site["blocked"] == 0, kat_site


def test_every_measurement_stored_exactly_once(deployment: Deployment) -> None:
    """Rows vs distinct ids, and every finished round whole, in the collector's chDB."""
    machine = deployment.machine
    rounds = _rounds(machine)
    _wait_stored(machine, sum(rounds.values()))
    # chDB lets one process open the database: stop the services, then read it
    # as the collector's user, the way an analyst reads a stopped collector's data
    machine.run(["systemctl", "stop", PROBE_UNIT, COLLECTOR_UNIT]).check()
    query = ("from blockwatch.analysis.database import ClickHouseDatabase\n"
             "import json\n"
             "db = ClickHouseDatabase('chdb:///var/lib/blockwatch/db')\n"
             "total = db.rows('SELECT count(), uniqExact(measurement_id) FROM measurements')\n"
             "per_round = db.rows('SELECT round_id, count() FROM measurements GROUP BY round_id')\n"
             "print(json.dumps({'total': total[0], 'rounds': dict(per_round)}))\n")
    out = machine.run([f"{COLLECTOR_BIN}/python", "-c", query], user="blockwatch-collector",
                      timeout=180).check()
    stored = json.loads(out.stdout.strip().splitlines()[-1])
    rows, distinct = stored["total"]
    print(f"systemd_rows={rows}\nsystemd_distinct_ids={distinct}\nsystemd_rounds={len(rounds)}")
    assert rows == distinct
    # every round the probe finished is there, whole (a round cut by kill -9 is
    # not logged, but what it spooled is counted in rows == distinct)
    assert {r: stored["rounds"].get(r) for r in rounds} == rounds
    machine.run(["systemctl", "start", COLLECTOR_UNIT, PROBE_UNIT]).check()
