"""The probe's `system` resolver on a host whose resolv.conf names a local stub.

The probe runs in a private mount namespace (inside the test session's private
network namespace) where /etc/resolv.conf names systemd-resolved's stub
127.0.0.53 and /run/systemd/resolve/ holds what systemd-resolved would write:
the real paths the probe reads on a desktop or server, nothing configured.
An unbound on 127.0.0.53 plays the stub: a local cache with no blocklist, so
measuring it would hide the ISP's blocks.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.probe_cli import PROBE, write_config
from tests.lab.unbound import Unbound
from tests.lab.world import ISP_ADDR, Lab

pytestmark = pytest.mark.lab

STUB_ADDR = "127.0.0.53"
# the file the probe is given in place of /etc/resolv.conf, and systemd-resolved's
# list of upstreams; set up, then the probe exec'd, inside `unshare --mount`
_SEAL = """
set -e
mount -t tmpfs blockwatch-test /run
mkdir -p /run/systemd/resolve
cp "$1" /run/systemd/resolve/stub-resolv.conf
if [ -n "$2" ]; then cp "$2" /run/systemd/resolve/resolv.conf; fi
mount --bind /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
shift 2
exec "$@"
"""


@pytest.fixture(scope="module")
def stub(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Unbound]:
    with Unbound(tmp_path_factory.mktemp("stub"), STUB_ADDR, lab.nsd.upstream,
                 nsid="local-stub") as daemon:
        yield daemon


def _probe_behind_stub(tmp_path: Path, upstreams: str | None, *names: str
                       ) -> tuple[list[dict[str, Any]], str]:
    resolv = tmp_path / "stub-resolv.conf"
    resolv.write_text(f"# managed by man:systemd-resolved(8)\nnameserver {STUB_ADDR}\n"
                      "options edns0 trust-ad\n")
    upstream_file = ""
    if upstreams is not None:
        (tmp_path / "resolved.conf").write_text(upstreams)
        upstream_file = str(tmp_path / "resolved.conf")
    config = write_config(tmp_path / "probe.toml", [{"name": "isp", "address": "system"}],
                          name="it-desktop", limits={"timeout_s": 2, "listen_window_s": 0.05})
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", _SEAL, "seal",
         str(resolv), upstream_file, *PROBE, "once", "--format", "json", "-c", str(config),
         *names],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()], \
        result.stderr


def test_systemd_resolved_stub_is_bypassed_for_its_upstreams(
        stub: Unbound, tmp_path: Path) -> None:
    observations, stderr = _probe_behind_stub(
        tmp_path, f"# managed by man:systemd-resolved(8)\nnameserver {ISP_ADDR}\n",
        "limetorrents.pro")
    used = {(o["resolver"]["name"], o["resolver"]["address"]) for o in observations}
    assert used == {("isp", ISP_ADDR)}, used
    blocked = [o for o in observations if o["domain"] == "limetorrents.pro"
               and o["qtype"] == "A"]
    # the ISP's own RPZ answer, which the stub (no blocklist) would not have given
    assert blocked[0]["responses"][0]["rcode"] == "NXDOMAIN"
    # who answered: identity checks (whoami names, NSID) went to the same upstream
    identity = [o for o in observations if o["purpose"] == "identity"]
    assert {o["domain"] for o in identity} >= {"whoami.akamai.net", "o-o.myaddr.l.google.com"}
    assert any(o["responses"] and o["responses"][0]["nsid"] == "isp-it-1" for o in identity)
    assert "systemd-resolved" in stderr and f"upstreams it forwards to ({ISP_ADDR}" in stderr


def test_stub_without_known_upstreams_is_measured_and_labelled(
        stub: Unbound, tmp_path: Path) -> None:
    observations, stderr = _probe_behind_stub(tmp_path, None, "limetorrents.pro")
    used = {(o["resolver"]["name"], o["resolver"]["address"]) for o in observations}
    assert used == {("isp-stub", STUB_ADDR)}, used
    answered = [o for o in observations if o["domain"] == "limetorrents.pro"
                and o["qtype"] == "A"]
    assert answered[0]["responses"][0]["rcode"] == "NOERROR"   # the stub does not block
    assert "level=warning" in stderr and "measuring the stub itself" in stderr
