"""Seal this process (and every child it starts) in a fresh network namespace
whose only interface is loopback, so no packet can leave the machine."""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
# The namespace the test run was started in, as a /proc path, recorded by the
# first process that seals itself (pytest's main process) for its children:
# pytest-xdist's workers are started by that process, already sealed, and seal
# themselves again, so their parent's namespace is not the one to build in.
STARTED_NETNS_ENV = "BLOCKWATCH_STARTED_NETNS"


def started_netns() -> str:
    """/proc path of the network namespace the test run was started in."""
    return os.environ.get(STARTED_NETNS_ENV) or f"/proc/{os.getppid()}/ns/net"


def enter_private_netns() -> str:
    """Unshare the network namespace; returns "" on success, else why not."""
    if os.geteuid() != 0:
        return "not root"
    # the caller's parent is in the namespace the run was started in (a shell,
    # scripts/test.sh): kept for the one step that needs the network
    os.environ.setdefault(STARTED_NETNS_ENV, f"/proc/{os.getppid()}/ns/net")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"unshare failed: {os.strerror(ctypes.get_errno())}"
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return ""


def only_loopback() -> bool:
    return {name for _, name in socket.if_nameindex()} <= {"lo"}


# -- named namespaces for the multi-country lab world -----------------------------

NETNS_RUN_DIR = Path("/run/netns")     # where `ip netns add` pins namespaces
NETNS_ETC_DIR = Path("/etc/netns")     # `ip netns exec NS` bind-mounts files found here


class NamedNetns:
    """A network namespace made with `ip netns add NAME`, with only `lo` (up).

    Daemons and probes run inside with ``exec_argv`` (`ip netns exec` execs the
    command in place, so a Popen's pid is the program's own). Python code that
    must talk to the namespace's loopback (readiness checks, assertions) uses
    :meth:`call`: network namespaces are per thread, so a short-lived worker
    thread does setns(2) and runs the function there, leaving the caller's
    namespace alone.

    ``resolv_conf`` is written to /etc/netns/NAME/resolv.conf, which
    `ip netns exec` bind-mounts over /etc/resolv.conf: the probe's ``system``
    resolver there is the country's ISP. :meth:`delete` removes both the
    namespace and that directory; nothing else outside the lab is touched.
    """

    def __init__(self, name: str, *, resolv_conf: str | None = None) -> None:
        if not name or "/" in name or len(name) > 40:
            raise ValueError(f"bad namespace name {name!r}")
        self.name = name
        self.resolv_conf = resolv_conf
        self.created = False

    @property
    def path(self) -> Path:
        return NETNS_RUN_DIR / self.name

    @property
    def etc_dir(self) -> Path:
        return NETNS_ETC_DIR / self.name

    def create(self) -> None:
        if self.path.exists():
            raise RuntimeError(f"network namespace {self.name} already exists")
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        self.created = True
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True,
                       capture_output=True)
        if self.resolv_conf is not None:
            self.etc_dir.mkdir(parents=True, exist_ok=True)
            (self.etc_dir / "resolv.conf").write_text(self.resolv_conf)

    def delete(self) -> None:
        """Idempotent. Stop what runs inside first: a process keeps its namespace alive."""
        if self.created:
            subprocess.run(["ip", "netns", "delete", self.name], check=False,
                           capture_output=True)
            self.created = False
        if self.etc_dir.is_dir():
            shutil.rmtree(self.etc_dir, ignore_errors=True)

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a worker thread that has joined this namespace."""
        box: list[T] = []
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    libc = ctypes.CDLL(None, use_errno=True)
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns {self.name}")
                finally:
                    os.close(fd)
                box.append(fn())
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)

        thread = threading.Thread(target=worker, name=f"netns-{self.name}", daemon=True)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return box[0]

    def __repr__(self) -> str:
        return f"NamedNetns({self.name!r})"
