"""ansible-lint with the production profile, and a syntax check of every playbook."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.ansible.harness import ANSIBLE_DIR, BIN, ansible_tool

pytestmark = pytest.mark.ansible


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "NO_COLOR": "1"}


@pytest.mark.skipif(ansible_tool("ansible-lint") is None, reason="ansible-lint is not installed")
def test_ansible_lint_production_profile() -> None:
    result = subprocess.run([str(ansible_tool("ansible-lint")), "--profile", "production",
                             "--offline", "--strict"],
                            cwd=ANSIBLE_DIR, env=_env(), capture_output=True, text=True,
                            timeout=180, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


@pytest.mark.skipif(ansible_tool("ansible-playbook") is None, reason="ansible is not installed")
@pytest.mark.parametrize("playbook", ["site.yml", "collector.yml", "probes.yml"])
def test_playbook_syntax(playbook: str) -> None:
    result = subprocess.run([str(ansible_tool("ansible-playbook")), "--syntax-check",
                             playbook], cwd=ANSIBLE_DIR, env=_env(), capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
