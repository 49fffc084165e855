"""A Debian host booted under systemd-nspawn, with only a private loopback.

The cached root stays read-only: each machine boots an overlay of it (root as
the lower layer, the machine's changes in its own upper layer), so a reboot
keeps what the playbooks installed and a new test run starts clean. Commands
run inside with nsenter into the namespaces of the container's init, with an
environment as empty as a fresh login's.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

NSENTER_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG=C.UTF-8", "HOME=/root", "TERM=dumb")
# systemd-nspawn's exit status when the container asked for a reboot
# (systemd-nspawn@.service restarts it on this status).
REBOOT_EXIT = 133


def _scope_option() -> list[str]:
    """On a host booted with systemd, nspawn gets its own delegated scope over
    D-Bus (cgroups the container's systemd may manage); elsewhere (no system
    bus to ask) it stays in the test's cgroup: --keep-unit."""
    return [] if Path("/run/systemd/system").is_dir() else ["--keep-unit"]


class MachineError(RuntimeError):
    """The container did not boot, stop or answer as it should."""


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Result:
        if self.returncode != 0:
            raise MachineError(f"{shlex.join(self.argv)} exited {self.returncode}:\n"
                               f"{(self.stdout + self.stderr)[-3000:]}")
        return self


def nsenter_argv(pid: int, argv: list[str]) -> list[str]:
    """argv run in every namespace of ``pid`` (root, cwd, mounts, pids, cgroup, net)."""
    return ["nsenter", f"--target={pid}", "--all", "--", "env", "-i", *NSENTER_ENV, *argv]


@dataclass
class Machine:
    lower: Path          # the cached root (never written)
    workdir: Path        # upper layer, overlay work dir, mount point, logs
    hostname: str = "blockwatch-host"
    boots: list[float] = field(default_factory=list)   # seconds to a running system
    _proc: subprocess.Popen[bytes] | None = None
    _pid: int | None = None

    @property
    def name(self) -> str:
        """Unique per run (nspawn keeps per-machine state under /run by this name)."""
        return self.workdir.name[-60:]

    @property
    def merged(self) -> Path:
        return self.workdir / "merged"

    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"

    @property
    def pid(self) -> int:
        if self._pid is None:
            raise MachineError("the machine is not running")
        return self._pid

    def path(self, inside: str) -> Path:
        """The host path of a file of the machine's own root (not its tmpfs mounts)."""
        return self.merged / inside.lstrip("/")

    # -- lifecycle ---------------------------------------------------------------

    def mount(self) -> None:
        for sub in ("upper", "work", "merged"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        options = (f"lowerdir={self.lower},upperdir={self.workdir / 'upper'},"
                   f"workdir={self.workdir / 'work'}")
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(self.merged)],
                       check=True, capture_output=True)

    def unmount(self) -> None:
        subprocess.run(["umount", str(self.merged)], check=False, capture_output=True)

    def boot(self, timeout: float = 120) -> float:
        """Boot to a running system; returns the seconds it took."""
        started = time.monotonic()
        with self.console_log.open("ab") as log:
            self._proc = subprocess.Popen(
                # SIGTERM if the test process dies: nspawn then shuts the
                # container down instead of leaving it running, orphaned
                ["setpriv", "--pdeathsig=TERM", "systemd-nspawn", "--quiet", "--register=no",
                 *_scope_option(), "--boot", "--private-network", f"--machine={self.name}",
                 f"--hostname={self.hostname}",
                 "--resolv-conf=off", "--timezone=off", "--link-journal=no",
                 "--console=read-only", "-D", str(self.merged)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self._pid = self._find_init(started + 30)
        state = ""
        while time.monotonic() < started + timeout:
            # --wait blocks until start-up finished (or failed)
            state = self.run(["systemctl", "is-system-running", "--wait"], timeout=timeout).stdout
            if state.strip() in ("running", "degraded"):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        if state.strip() != "running":
            failed = self.run(["systemctl", "--failed", "--no-pager"]).stdout
            raise MachineError(f"boot ended {state.strip() or 'nowhere'} after {elapsed:.1f}s:\n"
                               f"{failed}\n{self.console_tail()}")
        self.boots.append(elapsed)
        return elapsed

    def _find_init(self, deadline: float) -> int:
        """The host PID of the container's init: nspawn's child that is PID 1 inside."""
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise MachineError(f"systemd-nspawn exited {self._proc.returncode}:\n"
                                   f"{self.console_tail()}")
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    text = status.read_text()
                except OSError:
                    continue
                ppid = re.search(r"^PPid:\s+(\d+)$", text, re.M)
                nspid = re.search(r"^NSpid:\s+(\d+)\s+1$", text, re.M)
                if ppid and nspid and int(ppid[1]) == self._proc.pid:
                    return int(nspid[1])
            time.sleep(0.05)
        raise MachineError("no init process appeared in the container")

    def wait_exit(self, timeout: float = 90) -> int:
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired as e:
            raise MachineError(f"the container did not stop in {timeout:.0f}s") from e
        self._pid = None
        return code

    def reboot(self, timeout: float = 120) -> float:
        """`systemctl reboot` inside, then relaunch as systemd-nspawn@.service would."""
        self.run(["systemctl", "reboot"]).check()
        code = self.wait_exit(timeout)
        if code != REBOOT_EXIT:
            raise MachineError(f"systemd-nspawn exited {code} after a reboot, not {REBOOT_EXIT}")
        return self.boot(timeout)

    def poweroff(self, timeout: float = 90) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        if self._pid is not None:
            self.run(["systemctl", "poweroff"], timeout=30)
        try:
            self.wait_exit(timeout)
        except MachineError:
            self._proc.kill()   # SIGKILL of nspawn takes the whole container with it
            self._proc.wait(30)

    # -- commands ------------------------------------------------------------------

    def run(self, argv: list[str], *, input: str | None = None, timeout: float = 120,
            user: str | None = None) -> Result:
        """Run argv inside (as root, or as ``user`` through runuser)."""
        inner = ["runuser", "-u", user, "--", *argv] if user else argv
        try:
            done = subprocess.run(nsenter_argv(self.pid, inner), input=input,
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise MachineError(f"{shlex.join(argv)}: no result after {timeout:.0f}s") from e
        return Result(tuple(argv), done.returncode, done.stdout, done.stderr)

    def write(self, inside: str, text: str, mode: int = 0o644) -> None:
        path = self.path(inside)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, mode)

    def console_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.console_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
