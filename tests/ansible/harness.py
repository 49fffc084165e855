"""Run the Ansible roles for real, offline, against localhost under a root prefix.

The test session is sealed in a network namespace with only loopback, so pip
cannot reach an index. The harness therefore
- builds the blockwatch wheel from this checkout (no build isolation, no index),
- exposes the dependencies already installed in the test interpreter through a
  directory of symlinks (everything but blockwatch itself and pip), and
- creates each role's virtualenv in advance with a ``.pth`` line naming that
  directory: the role finds the venv, and ``pip install --no-index
  --find-links <wheels> blockwatch==X`` installs blockwatch from the wheel with
  every dependency already satisfied.
Everything else (config, registration, units, validation) is the roles' work.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
BIN = Path(sys.executable).parent
_SOURCES = ("pyproject.toml", "README.md", "proto", "probe", "collector", "analysis")
_NOT_DEPS = re.compile(r"^(blockwatch[-_].*|__editable__.*|.*\.pth|pip|pip-.*|__pycache__)$")


def ansible_tool(name: str) -> Path | None:
    path = BIN / name
    return path if path.exists() else (Path(found) if (found := shutil.which(name)) else None)


def build_wheel(workdir: Path, ref: str = "") -> Path:
    """The blockwatch wheel of this checkout (built from a copy: the tree stays clean).

    With ``ref`` (e.g. HEAD) the sources are that commit's, not the working tree's.
    """
    src = workdir / "src"
    src.mkdir(parents=True)
    if ref:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, *_SOURCES],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    for name in () if ref else _SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(path, src / name)
    wheels = workdir / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "--wheel-dir", str(wheels), str(src)],
                   check=True, capture_output=True, text=True)
    (wheel,) = wheels.glob("blockwatch-*.whl")
    return wheel


def deps_dir(workdir: Path) -> Path:
    """A directory of symlinks to the installed dependencies, without blockwatch and pip."""
    deps = workdir / "deps"
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if not _NOT_DEPS.match(entry.name):
            (deps / entry.name).symlink_to(entry)
    return deps


def precreate_venv(venv: Path, deps: Path) -> None:
    """A virtualenv that sees the installed dependencies (see the module docstring)."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True)
    (site,) = venv.glob("lib/python3*/site-packages")
    (site / "zz-blockwatch-test-deps.pth").write_text(f"{deps}\n")


@dataclass(frozen=True)
class Recap:
    """One host's line of the PLAY RECAP."""

    ok: int
    changed: int
    failed: int
    unreachable: int


@dataclass(frozen=True)
class PlaybookRun:
    returncode: int
    output: str

    def recap(self) -> dict[str, Recap]:
        hosts = {}
        for m in re.finditer(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                             r"failed=(\d+)", self.output, re.M):
            hosts[m[1]] = Recap(ok=int(m[2]), changed=int(m[3]), failed=int(m[5]),
                                unreachable=int(m[4]))
        return hosts

    def task_results(self, task: str) -> list[str]:
        """The result words (ok/changed/skipping/fatal) printed under every task so named."""
        results: list[str] = []
        for block in re.finditer(rf"^TASK \[[^\]]*{re.escape(task)}\].*?\n(.*?)"
                                 r"(?=^TASK |^RUNNING |^PLAY |\Z)", self.output, re.M | re.S):
            results += re.findall(r"^(ok|changed|skipping|fatal|failed): ", block[1], re.M)
        return results


def run_playbook(playbook: str, inventory: Path, workdir: Path, *args: str,
                 timeout: float = 240, extra_env: dict[str, str] | None = None) -> PlaybookRun:
    home = workdir / "ansible-home"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "remote-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        **(extra_env or {}),
    }
    result = subprocess.run(
        [str(ansible_tool("ansible-playbook")), "-i", str(inventory),
         str(ANSIBLE_DIR / playbook), *args],
        cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(result.returncode, result.stdout + result.stderr)
