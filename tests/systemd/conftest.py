from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.netns import started_netns
from tests.systemd.machine import Machine
from tests.systemd.rootfs import Root, ensure_root

# The lab zone the probe measures through: unbound inside the container answers
# from local data only (the container has no network, so nothing may recurse).
UNBOUND_CONF = """\
server:
    interface: 127.0.0.1
    access-control: 127.0.0.0/8 allow
    # no trust anchor, no recursion: answers come from the zones below
    module-config: "iterator"
    local-zone: "." static
    # a root to ask for (`blockwatch-probe check` asks each resolver for ". NS")
    local-data: ". 86400 IN SOA a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400"
    local-data: ". 86400 IN NS a.root-servers.net."
    local-data: "a.root-servers.net. 86400 IN A 198.41.0.4"
    local-data: "kickasstorrents.to. 300 IN A 104.21.64.10"
    local-data: "kickasstorrents.to. 300 IN AAAA 2606:4700:3030::6815:400a"
    local-data: "limetorrents.pro. 300 IN A 172.67.140.20"
    # the ISP blocks this one with the AGCOM stop page
    local-zone: "thepiratebay.org." redirect
    local-data: "thepiratebay.org. 300 IN A 83.224.65.74"
    local-data: "example.com. 300 IN A 93.184.215.14"
    local-data: "wikipedia.org. 300 IN A 185.15.59.224"
"""


WORKDIR_PREFIX = "/tmp/bw-systemd-"


def _clean_up_after_dead_runs() -> None:
    """Unmount and remove the overlays of runs whose process is gone (killed hard)."""
    for workdir in Path("/tmp").glob("bw-systemd-*"):
        pid = workdir.name.removeprefix("bw-systemd-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            subprocess.run(["umount", str(workdir / "merged")], capture_output=True, check=False)
            shutil.rmtree(workdir, ignore_errors=True)


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (debootstrap, overlay mounts, systemd-nspawn)"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is not installed (scripts/setup.sh installs systemd-container)"
    return None


@pytest.fixture(scope="session")
def systemd_root() -> Root:
    """The cached Debian root, built first when missing.

    Building downloads from the Debian mirror and PyPI, like scripts/setup.sh,
    so it runs in the network namespace pytest was started in (tests/conftest.py
    moved the session out of it; netns.started_netns). Only the build runs there:
    the session stays sealed, and the container has only its own loopback.
    """
    if reason := _skip_reason():
        pytest.skip(reason)
    if shutil.which("debootstrap") is None:
        pytest.fail("debootstrap is not installed: run scripts/setup.sh")
    argv = [sys.executable, "-m", "tests.systemd.rootfs"]
    started_in = started_netns()
    if os.stat(started_in).st_ino != os.stat("/proc/self/ns/net").st_ino:
        argv = ["nsenter", f"--net={started_in}", *argv]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1100, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    if done.returncode != 0:
        pytest.fail(f"cannot build the systemd root:\n{done.stderr[-3000:]}")
    print(f"systemd_root_ready_s={time.monotonic() - started:.1f}")
    return ensure_root()   # cached now: returns at once


@pytest.fixture(scope="module")
def machine(systemd_root: Root) -> Iterator[Machine]:
    """The root booted under systemd with only a private loopback network."""
    _clean_up_after_dead_runs()
    workdir = Path(f"{WORKDIR_PREFIX}{os.getpid()}")
    shutil.rmtree(workdir, ignore_errors=True)
    machine = Machine(systemd_root.path, workdir)
    machine.mount()
    try:
        machine.write("/etc/unbound/unbound.conf.d/blockwatch-lab.conf", UNBOUND_CONF)
        # a persistent journal, as an operator reading logs across reboots expects
        machine.path("/var/log/journal").mkdir(parents=True, exist_ok=True)
        try:
            machine.boot()
        except Exception as e:
            pytest.fail(f"the container did not boot: {e}")
        print(f"systemd_boot_s={machine.boots[0]:.1f}")
        yield machine
    finally:
        machine.poweroff()
        machine.unmount()
        shutil.rmtree(workdir, ignore_errors=True)
