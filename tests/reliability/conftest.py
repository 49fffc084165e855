"""The reliability suite: marker, run sizes and the figures file.

Sizes come from the environment so the one regenerating command
(`python -m tests.reliability.report`) runs the issue's full counts while a
plain `pytest` run stays short:

- BLOCKWATCH_RELIABILITY_CYCLES: kill -9 cycles (default 12; the report runs 50)
- BLOCKWATCH_RELIABILITY_HOSTILE: generated hostile batches (default 2,000; report 10,000)
- BLOCKWATCH_RELIABILITY_FIGURES: write the figures of this run as JSON to this path
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: crash, outage, network-fault, hostile-input and security "
        "tests whose figures go into docs/reliability.md")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)


@dataclass(frozen=True, slots=True)
class Sizes:
    cycles: int
    hostile: int


@dataclass(slots=True)
class Figures:
    """Figures of this run, one section per test, written at the session's end."""

    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, section: str, **values: Any) -> None:
        self.sections.setdefault(section, {}).update(values)


@pytest.fixture(scope="session")
def sizes() -> Sizes:
    return Sizes(cycles=int(os.environ.get("BLOCKWATCH_RELIABILITY_CYCLES", "12")),
                 hostile=int(os.environ.get("BLOCKWATCH_RELIABILITY_HOSTILE", "2000")))


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    found = Figures()
    yield found
    target = os.environ.get("BLOCKWATCH_RELIABILITY_FIGURES")
    if target:
        Path(target).write_text(json.dumps(found.sections, indent=2, sort_keys=True) + "\n")
