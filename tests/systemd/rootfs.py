"""Build (or reuse) a Debian 12 root that boots under systemd-nspawn.

The root holds what a fresh Debian host would get from its mirror (systemd,
python3, sudo, unbound) plus a wheelhouse of blockwatch's dependencies, so the
container, which has no network, can install the project offline. The
blockwatch wheel itself is NOT in the root: the playbooks copy it in, as they
would to a real host.

The root is cached under ``/var/cache/blockwatch/systemd-root-<key>``, where the
key hashes every input (suite, mirror, package list, the project's dependency
lines, this builder's version): a changed input builds a new root, an unchanged
one is reused by CI and later runs.

Run it alone (``python -m tests.systemd.rootfs``) to build ahead of a test run;
it prints the root's path and ``name=value`` figures.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("BLOCKWATCH_SYSTEMD_CACHE", "/var/cache/blockwatch"))
SUITE = "bookworm"
DEBIAN_PYTHON = (3, 11)   # bookworm's python3
# Bump when the build steps change in a way the other inputs do not show.
BUILDER_VERSION = "1"
# What a Debian host needs for the roles and the test: systemd as init, python3
# with venv and packaging (the roles' os_packages), python3-apt (ansible's apt
# module), sudo (become), unbound (the resolver the probe measures through).
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "python3-packaging",
            "python3-apt", "sudo", "unbound", "ca-certificates", "procps")
# Where the dependencies' wheels live inside the root (the roles' pip_find_links).
WHEELHOUSE = "/var/cache/blockwatch/wheelhouse"
_STAMP = ".blockwatch-root.json"


class RootBuildError(RuntimeError):
    """The root could not be built; the message names the step that failed."""


@dataclass(frozen=True)
class Root:
    path: Path
    key: str
    built_s: float | None   # None: reused from the cache

    @property
    def wheelhouse(self) -> Path:
        return self.path / WHEELHOUSE.lstrip("/")


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (BLOCKWATCH_DEBIAN_MIRROR overrides)."""
    if mirror := os.environ.get("BLOCKWATCH_DEBIAN_MIRROR"):
        return mirror
    sources = sorted(Path("/etc/apt").glob("sources.list.d/*.sources"))
    for path in sources:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
            if SUITE in fields.get("Suites", "").split() and "URIs" in fields:
                return str(fields["URIs"]).split()[0]
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt").glob("sources.list.d/*.list")]:
        if path.exists():
            for m in re.finditer(rf"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+{SUITE}\s", path.read_text(),
                                 re.M):
                return m[1]
    return "http://deb.debian.org/debian"


def requirements() -> list[str]:
    """blockwatch's own dependencies with the collector extra (the probe's are a subset)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return sorted([*project["dependencies"], *project["optional-dependencies"]["collector"]])


def cache_key(mirror: str) -> str:
    inputs = {"suite": SUITE, "mirror": mirror, "packages": PACKAGES,
              "requirements": requirements(), "builder": BUILDER_VERSION,
              "python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _run(step: str, argv: list[str], timeout: float) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                check=False)
    except subprocess.TimeoutExpired as e:
        raise RootBuildError(f"{step}: no result after {timeout:.0f}s") from e
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise RootBuildError(f"{step} failed (exit {result.returncode}):\n" + "\n".join(tail))


def _build(target: Path, mirror: str) -> None:
    if sys.version_info[:2] != DEBIAN_PYTHON:
        # the wheelhouse is built with this interpreter, for the root's python3
        raise RootBuildError(f"the wheelhouse needs Python {'.'.join(map(str, DEBIAN_PYTHON))} "
                             f"(Debian 12's), not {sys.version_info.major}."
                             f"{sys.version_info.minor}: run with a 3.11 virtualenv")
    _run("debootstrap", ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                         SUITE, str(target), mirror], timeout=700)
    # Wheels for the container's CPython (same minor version and glibc as this
    # Debian host); pip wheel also turns any sdist into a wheel here, where
    # compilers and the index are.
    wheelhouse = target / WHEELHOUSE.lstrip("/")
    wheelhouse.mkdir(parents=True)
    reqs = target.parent / f"{target.name}.requirements.txt"
    reqs.write_text("\n".join(requirements()) + "\n")
    try:
        _run("pip wheel", [sys.executable, "-m", "pip", "wheel", "--quiet",
                           "--wheel-dir", str(wheelhouse), "-r", str(reqs)], timeout=380)
    finally:
        reqs.unlink()
    # The container boots with only loopback: apt's timers and unbound's trust
    # anchor download would only wait for a network that never comes.
    for unit in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        link = target / "etc/systemd/system/timers.target.wants" / unit
        link.unlink(missing_ok=True)
    (target / "etc/hostname").write_text("blockwatch-host\n")
    # the probe's system resolver: unbound on the container's loopback
    (target / "etc/resolv.conf").unlink(missing_ok=True)
    (target / "etc/resolv.conf").write_text("nameserver 127.0.0.1\n")


def ensure_root() -> Root:
    """The cached root for the current inputs, built first when missing."""
    mirror = debian_mirror()
    key = cache_key(mirror)
    path = CACHE_DIR / f"systemd-root-{key}"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / f"systemd-root-{key}.lock").open("w") as lock:
        # one builder at a time; a waiting run then finds the finished root
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / _STAMP).exists():
            (path / _STAMP).touch()   # its mtime is the last use (see _prune)
            return Root(path, key, None)
        started = time.monotonic()
        partial = CACHE_DIR / f"systemd-root-{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            _build(partial, mirror)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        (partial / _STAMP).write_text(json.dumps({"key": key, "mirror": mirror,
                                                  "packages": PACKAGES}) + "\n")
        shutil.rmtree(path, ignore_errors=True)
        partial.rename(path)
        _prune(keep=path)
        return Root(path, key, time.monotonic() - started)


def _prune(keep: Path, unused_s: float = 86400) -> None:
    """Remove roots of other inputs nobody used for a day (each is ~600 MB)."""
    for stamp in CACHE_DIR.glob(f"systemd-root-*/{_STAMP}"):
        root = stamp.parent
        if root != keep and time.time() - stamp.stat().st_mtime > unused_s:
            shutil.rmtree(root, ignore_errors=True)
            Path(f"{root}.lock").unlink(missing_ok=True)


def main() -> int:
    if os.geteuid() != 0:
        print("rootfs: must run as root (debootstrap)", file=sys.stderr)
        return 1
    if shutil.which("debootstrap") is None:
        print("rootfs: debootstrap is not installed (scripts/setup.sh installs it)",
              file=sys.stderr)
        return 1
    try:
        root = ensure_root()
    except RootBuildError as e:
        print(f"rootfs: {e}", file=sys.stderr)
        return 1
    print(root.path)
    if root.built_s is not None:
        print(f"systemd_root_build_s={root.built_s:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
