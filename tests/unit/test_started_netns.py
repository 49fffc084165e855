"""The one step that needs the network (building the systemd test root from the
Debian mirror) runs in the namespace the test run was started in. Under
pytest-xdist a worker's parent is pytest's main process, already sealed with
only loopback: building there failed ("Failed getting release file") whenever
the cached root had to be rebuilt."""

from __future__ import annotations

import os

import pytest

from tests.lab.netns import started_netns


def _inode(path: str) -> int:
    return os.stat(path).st_ino


def test_the_started_namespace_is_not_a_sealed_pytest_process() -> None:
    if os.geteuid() != 0:
        pytest.skip("the session is sealed only as root")
    ours = _inode("/proc/self/ns/net")
    assert _inode(started_netns()) != ours
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # the main pytest process (this worker's parent) sealed itself too
        assert _inode(started_netns()) != _inode(f"/proc/{os.getppid()}/ns/net")
