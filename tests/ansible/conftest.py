from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ansible: runs ansible-lint or real ansible-playbook runs (select: -m ansible)")
