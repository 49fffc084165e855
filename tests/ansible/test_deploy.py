"""Deploy the collector and a probe with the real playbook, then measure through them.

Both inventory hosts are localhost (connection local), each with its own root
prefix, so every file lands in a temporary directory. No systemd here: the
roles render and `systemd-analyze verify` the units but do not start them; the
test starts the deployed collector itself, runs a round with the deployed
probe's config against the lab world, and then runs the playbook again with
the verify phase on: it must change nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from blockwatch.collector.settings import build_settings
from tests.ansible.harness import (
    REPO,
    PlaybookRun,
    ansible_tool,
    build_wheel,
    deps_dir,
    precreate_venv,
    run_playbook,
)
from tests.lab.world import GOOGLE_ADDR, ISP_ADDR, QUAD9_ADDR, TLS_NAME, Lab

pytestmark = [
    pytest.mark.ansible,
    pytest.mark.skipif(ansible_tool("ansible-playbook") is None,
                       reason="ansible-core is not installed (pip install -e .[dev])"),
]

EXAMPLES = REPO / "collector/blockwatch/collector/examples"
PROBE = "probe-it-1"
COLLECTOR = "collector-1"


@dataclass
class Deployment:
    workdir: Path
    inventory: Path
    collector_root: Path
    probe_root: Path
    first: PlaybookRun

    @property
    def collector_cli(self) -> Path:
        return self.collector_root / "opt/blockwatch-collector/bin/blockwatch-collector"

    @property
    def collector_config(self) -> Path:
        return self.collector_root / "etc/blockwatch/collector.toml"

    @property
    def probe_config(self) -> Path:
        return self.probe_root / "etc/blockwatch/probe.toml"

    @property
    def token_file(self) -> Path:
        return self.probe_root / "etc/blockwatch/probe.token"

    def probes(self) -> list[dict[str, Any]]:
        out = subprocess.run([str(self.collector_cli), "probes", "list", "--format", "json",
                              "--config", str(self.collector_config)],
                             capture_output=True, text=True, check=True, timeout=60)
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def playbook(self, playbook: str, *args: str) -> PlaybookRun:
        return run_playbook(playbook, self.inventory, self.workdir, *args)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inventory(workdir: Path, lab: Lab, wheel: Path, collector_root: Path,
               probe_root: Path) -> Path:
    port, metrics = _free_port(), _free_port()
    server = lab.ca.issue("collector", "127.0.0.1", "localhost")
    resolv = workdir / "resolv.conf"
    resolv.write_text(f"nameserver {ISP_ADDR}\n")
    local = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        # root "becomes" the service users (root here) without sudo
        "ansible_become_method": "ansible.builtin.su",
    }
    collector = {
        **local,
        "blockwatch_collector_root": str(collector_root),
        "blockwatch_collector_wheel": str(wheel),
        "blockwatch_collector_pip_no_index": True,
        "blockwatch_collector_os_packages": [],
        "blockwatch_collector_create_user": False,
        "blockwatch_collector_user": "root",
        "blockwatch_collector_group": "root",
        "blockwatch_collector_service_manage": False,
        "blockwatch_collector_verify": False,
        "blockwatch_collector_listen": [f"127.0.0.1:{port}"],
        "blockwatch_collector_metrics": f"127.0.0.1:{metrics}",
        "blockwatch_collector_grace_s": 5,
        "blockwatch_collector_settle_s": 2.5,
        "blockwatch_collector_web_settle_s": 7,
        "blockwatch_collector_tls_cert": server.cert_path.read_text(),
        "blockwatch_collector_tls_key": server.key_path.read_text(),
        "blockwatch_collector_orders_files": [str(EXAMPLES / "milan-cloudflare.yaml"),
                                              str(EXAMPLES / "agcom-isp-list.csv")],
    }
    probe = {
        **local,
        "blockwatch_probe_root": str(probe_root),
        "blockwatch_probe_wheel": str(wheel),
        "blockwatch_probe_pip_no_index": True,
        "blockwatch_probe_os_packages": [],
        "blockwatch_probe_create_user": False,
        "blockwatch_probe_user": "root",
        "blockwatch_probe_group": "root",
        "blockwatch_probe_service_manage": False,
        "blockwatch_probe_verify": False,
        "blockwatch_probe_country": "IT",
        "blockwatch_probe_asn": 64500,
        "blockwatch_probe_collector_host": COLLECTOR,
        "blockwatch_probe_collector_cli":
            str(collector_root / "opt/blockwatch-collector/bin/blockwatch-collector"),
        "blockwatch_probe_collector_config": str(collector_root / "etc/blockwatch/collector.toml"),
        "blockwatch_probe_collector_user": "root",
        "blockwatch_probe_collector_addresses": [f"127.0.0.1:{port}"],
        "blockwatch_probe_collector_ca": lab.ca.ca_path.read_text(),
        "blockwatch_probe_resolv_conf": str(resolv),
        "blockwatch_probe_identity_checks": False,
        "blockwatch_probe_limits_timeout_s": 1.0,
        "blockwatch_probe_limits_listen_window_s": 0.2,
        "blockwatch_probe_resolvers": [
            {"name": "isp", "address": "system"},
            {"name": "isp-dot", "transport": "dot", "address": ISP_ADDR, "tls_name": TLS_NAME,
             "ca_file": str(lab.ca.ca_path)},
            {"name": "quad9", "address": QUAD9_ADDR},
            {"name": "google", "address": GOOGLE_ADDR},
        ],
    }
    inventory = workdir / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "collectors": {"hosts": {COLLECTOR: collector}},
        "probes": {"hosts": {PROBE: probe}},
    }}}))
    return inventory


@pytest.fixture(scope="module")
def deployment(lab: Lab) -> Iterator[Deployment]:
    # short paths: the collector's unix socket lives under the prefix (108-byte limit)
    workdir = Path(tempfile.mkdtemp(prefix="bw-ansible-", dir="/tmp"))
    try:
        wheel = build_wheel(workdir / "build")
        deps = deps_dir(workdir)
        collector_root, probe_root = workdir / "c", workdir / "p"
        precreate_venv(collector_root / "opt/blockwatch-collector", deps)
        precreate_venv(probe_root / "opt/blockwatch-probe", deps)
        inventory = _inventory(workdir, lab, wheel, collector_root, probe_root)
        first = run_playbook("site.yml", inventory, workdir)
        assert first.returncode == 0, first.output[-6000:]
        yield Deployment(workdir, inventory, collector_root, probe_root, first)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def collector(deployment: Deployment) -> Iterator[subprocess.Popen[bytes]]:
    """The deployed collector, started as its unit would: serve --config <deployed>."""
    sock = deployment.collector_root / "run/blockwatch/collector.sock"
    log = deployment.workdir / "collector.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(deployment.collector_cli), "serve", "--config",
                                 str(deployment.collector_config)], stderr=out)
    try:
        deadline = time.monotonic() + 60
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"collector did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.lab
def test_first_run_deploys_both_roles(deployment: Deployment) -> None:
    recap = deployment.first.recap()
    assert recap[COLLECTOR].failed == 0 and recap[PROBE].failed == 0
    assert recap[COLLECTOR].changed > 0 and recap[PROBE].changed > 0
    # the units were rendered and passed systemd-analyze verify where it exists
    # ... and their exposure score stayed below the roles' threshold
    expected = (["ok", "ok"] if Path("/usr/bin/systemd-analyze").exists()
                else ["skipping", "skipping"])
    for task in ("Check the unit with systemd-analyze verify",
                 "Check the unit's exposure with systemd-analyze security"):
        assert deployment.first.task_results(task) == expected, task
    unit = (deployment.probe_root / "etc/systemd/system/blockwatch-probe.service").read_text()
    for line in ("ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
                 "PrivateTmp=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                 "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
                 "StateDirectory=blockwatch-probe\n"):
        assert line in unit
    # the token: registered once, handed to the probe host only, mode 0600
    mode = stat.S_IMODE(deployment.token_file.stat().st_mode)
    assert mode == 0o600
    assert len(deployment.token_file.read_text().strip()) >= 32
    assert deployment.token_file.read_text().strip() not in deployment.first.output
    (entry,) = deployment.probes()
    assert (entry["name"], entry["country"], entry["asn"], entry["active"]) == (
        PROBE, "IT", 64500, True)
    assert stat.S_IMODE(deployment.probe_config.stat().st_mode) == 0o640
    key = deployment.collector_root / "etc/blockwatch/tls/collector.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    # the settle times the inventory set are the collector's
    settings = build_settings(deployment.collector_config)
    assert (settings.settle_s, settings.web_settle_s) == (2.5, 7.0)


@pytest.mark.lab
def test_deployed_probe_round_reaches_deployed_collector(
        deployment: Deployment, collector: subprocess.Popen[bytes]) -> None:
    probe = deployment.probe_root / "opt/blockwatch-probe/bin/blockwatch-probe"
    result = subprocess.run([str(probe), "once", "--format", "json", "-c",
                             str(deployment.probe_config)],
                            capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    # DNS measurements only: web follow-ups print their own lines ("kind": "web")
    observations = [o for o in lines if o.get("kind") != "web"]
    assert {o["resolver"]["name"] for o in observations} == {"isp", "isp-dot", "quad9", "google"}
    assert "0 left in the spool" in result.stderr
    deadline = time.monotonic() + 30
    while (stored := deployment.probes()[0]["measurements"]) < len(observations):
        assert time.monotonic() < deadline, f"{stored} of {len(observations)} stored"
        time.sleep(0.5)
    assert stored == len(observations)


@pytest.mark.lab
def test_second_run_changes_nothing_and_verifies(
        deployment: Deployment, collector: subprocess.Popen[bytes]) -> None:
    token = deployment.token_file.read_text()
    second = deployment.playbook("site.yml", "-e", "blockwatch_probe_verify=true",
                                 "-e", "blockwatch_collector_verify=true")
    assert second.returncode == 0, second.output[-6000:]
    recap = second.recap()
    assert recap[COLLECTOR].changed == 0 and recap[PROBE].changed == 0, second.output[-6000:]
    # the verify phase really ran: gRPC health, /metrics, blockwatch-probe check
    for task in ("Ask the collector's gRPC health service over the unix socket",
                 "Scrape the collector's Prometheus metrics",
                 "Check the config, every resolver and the collector with blockwatch-probe check"):
        assert second.task_results(task) == ["ok"], task
    # no new token was minted
    assert deployment.token_file.read_text() == token
    assert second.task_results("Register the probe at the collector and receive its token") \
        == ["skipping"]


@pytest.mark.lab
def test_check_mode_predicts_no_change(deployment: Deployment) -> None:
    dry = deployment.playbook("site.yml", "--check", "--diff")
    assert dry.returncode == 0, dry.output[-6000:]
    assert {h: r.changed for h, r in dry.recap().items()} == {COLLECTOR: 0, PROBE: 0}


@pytest.mark.lab
def test_lost_token_is_replaced_only_when_asked(deployment: Deployment) -> None:
    token = deployment.token_file.read_text()
    deployment.token_file.unlink()
    try:
        refused = deployment.playbook("probes.yml", "--tags", "register")
        assert refused.returncode != 0
        assert "its token cannot be recovered" in refused.output
        rotated = deployment.playbook("probes.yml", "--tags", "register",
                                      "-e", "blockwatch_probe_register_rotate=true")
        assert rotated.returncode == 0, rotated.output[-6000:]
        assert rotated.recap()[PROBE].changed == 2   # the token minted, the file written
        assert deployment.token_file.read_text() not in ("", token)
        assert [p["name"] for p in deployment.probes()] == [PROBE]
    finally:
        if not deployment.token_file.exists():
            deployment.token_file.write_text(token)


@pytest.mark.lab
def test_registry_disagreeing_with_inventory_stops_the_run(deployment: Deployment) -> None:
    result = deployment.playbook("probes.yml", "--tags", "register",
                                 "-e", "blockwatch_probe_asn=64501")
    assert result.returncode != 0
    assert "AS64500" in result.output and "carry the registry's values" in result.output
    assert result.recap()[PROBE].changed == 0
