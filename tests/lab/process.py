"""Run one DNS daemon in the foreground and own it by pid.

Daemons run undaemonized so the pid we hold is the server itself; each gets
its own session (process group) so a SIGKILL can also take any children it
forked (NSD forks xfrd and server workers) without touching anything else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rdatatype

from tests.lab.netns import NamedNetns

LOG_TAIL_LINES = 40


class LabServerError(RuntimeError):
    """A lab daemon failed to start or to answer; the message carries its log tail."""


def missing_programs(*programs: str) -> list[str]:
    """Return the programs (names or absolute paths) that are NOT installed."""
    return [p for p in programs if shutil.which(p) is None]


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Last lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def dns_answers(
    address: str, port: int, qname: str = ".", rdtype: str = "SOA", timeout: float = 0.2
) -> bool:
    """True if anything answers a UDP DNS query at address:port (any rcode)."""
    query = dns.message.make_query(qname, dns.rdatatype.from_text(rdtype))
    # RD=0: resolvers answer from what they hold (or refuse) without
    # recursing, so readiness never waits on an upstream.
    query.flags &= ~dns.flags.RD
    try:
        dns.query.udp(query, address, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError):
        return False
    return True


def _live_group_members(pgid: int) -> list[int]:
    """Non-zombie pids in process group ``pgid`` (Linux /proc).

    Zombies are skipped: an orphaned NSD worker reparented to an init that
    does not reap stays a zombie forever but holds no socket.
    """
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after "(comm)": state ppid pgrp ...; comm may contain spaces.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class DnsDaemon(ABC):
    """Base for a lab DNS server: write config, launch, wait until it answers, stop.

    Subclasses provide the config files and argv; this class owns the process.
    """

    #: Program name used in error messages and for the "installed?" check.
    program: str = ""

    def __init__(
        self,
        workdir: Path,
        address: str,
        port: int,
        *,
        start_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        netns: NamedNetns | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        # None: the caller's own network namespace (the single-country seed).
        self.netns = netns
        self.address = address
        self.port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    # -- subclass hooks -------------------------------------------------
    @abstractmethod
    def write_config(self) -> None:
        """Write every file the daemon needs into the work dir."""

    @abstractmethod
    def argv(self) -> list[str]:
        """Command line that runs the daemon in the foreground."""

    def ready_query(self) -> tuple[str, str]:
        """(qname, type) sent with RD=0 to decide the server is up; any rcode counts."""
        return (".", "SOA")

    # -- public API -----------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.program}.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.log_path, lines)

    def start(self) -> None:
        """Write config, launch the daemon, block until it answers DNS."""
        if self.running:
            raise LabServerError(f"{self.program} already running (pid {self.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        argv = self.argv()
        if shutil.which(argv[0]) is None:
            raise LabServerError(f"{argv[0]} is not installed")
        if self.netns is not None:
            argv = self.netns.exec_argv(argv)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(argv)

    def stop(self) -> None:
        """SIGTERM our pid, SIGKILL our process group if it lingers. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._kill_group(proc)
        # Children (NSD workers) may briefly outlive their parent; give them a
        # moment to exit on their own, then kill whatever is left of our group.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and _live_group_members(proc.pid):
            time.sleep(0.05)
        if _live_group_members(proc.pid):
            self._kill_group(proc)

    def answers(self, qname: str = ".", rdtype: str = "SOA") -> bool:
        """True if the daemon answers a UDP query, asked from its own namespace."""
        if self.netns is None:
            return dns_answers(self.address, self.port, qname, rdtype)
        return self.netns.call(lambda: dns_answers(self.address, self.port, qname, rdtype))

    def send_signal(self, signum: int) -> None:
        """Signal our daemon by pid (e.g. SIGHUP: unbound rereads its config and zones)."""
        if self._proc is None or self._proc.poll() is not None:
            raise LabServerError(f"{self.program} is not running")
        self._proc.send_signal(signum)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------
    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes]) -> None:
        # start_new_session made pgid == pid: the group holds only what we spawned.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2.0)

    def _wait_ready(self, argv: list[str]) -> None:
        qname, rdtype = self.ready_query()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self.stop()
                raise LabServerError(
                    f"{self.program} exited with {code} before answering on "
                    f"{self.address}@{self.port}\ncommand: {' '.join(argv)}\n"
                    f"--- log tail ---\n{self.log_tail()}"
                )
            if self.answers(qname, rdtype):
                return
            time.sleep(0.05)
        self.stop()
        raise LabServerError(
            f"{self.program} did not answer {qname} {rdtype} on {self.address}@{self.port} "
            f"within {self.start_timeout}s\ncommand: {' '.join(argv)}\n"
            f"--- log tail ---\n{self.log_tail()}"
        )

    def __repr__(self) -> str:
        where = f", netns={self.netns.name}" if self.netns is not None else ""
        return f"{type(self).__name__}({self.address}@{self.port}, pid={self.pid}{where})"
