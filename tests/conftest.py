"""Test session set-up: seal the whole session inside a private network namespace.

As root, pytest moves itself into a fresh network namespace whose only
interface is loopback before any test runs. Every server and probe the tests
start inherits it, so no test can send a packet beyond this machine even by
mistake, and lab servers may use their real ports (53, 853, 443) on 127.x.
Without root the tests run on the host's loopback and the lab tests skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.netns import enter_private_netns, only_loopback
from tests.lab.process import missing_programs
from tests.lab.world import Lab, single_country


def _enter_private_netns() -> str:
    if os.environ.get("BLOCKWATCH_TEST_NETNS", "1") == "0":
        return "disabled by BLOCKWATCH_TEST_NETNS=0"
    return enter_private_netns()


def pytest_configure(config: pytest.Config) -> None:
    reason = _enter_private_netns()
    config.stash[_NETNS_KEY] = reason or "private network namespace (lo only)"


def pytest_report_header(config: pytest.Config) -> str:
    return f"network: {config.stash.get(_NETNS_KEY, '?')}"


_NETNS_KEY = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def isolated() -> None:
    """Skip unless the session is sealed in a namespace with only loopback."""
    if not only_loopback():
        pytest.skip("needs a private network namespace (run the tests as root)")


@pytest.fixture(scope="session")
def lab(isolated: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The seed lab world: NSD root, ISP unbound with RPZ, Quad9-, Google-style resolvers."""
    missing = missing_programs("nsd", "unbound", "kresd")
    if missing:
        pytest.skip(f"DNS daemons not installed: {', '.join(missing)}")
    with single_country(Path(tmp_path_factory.mktemp("lab"))) as world:
        yield world
