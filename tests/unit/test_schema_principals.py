"""The web view's read path to the registry (blockwatch.schema.principals)
sees what the collector's Registry wrote, and never writes itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.collector.registry import Registry
from blockwatch.schema.principals import Holder, RegistryUnreadable, TokenReader


def test_reader_finds_active_holders_only(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    registry = Registry(path)
    analyst = registry.add("analyst", "alice")
    probe = registry.add("probe", "it-1", country="IT", asn=3269)
    revoked = registry.add("analyst", "bob")
    registry.revoke("analyst", "bob")
    reader = TokenReader(path)
    assert reader.holder(analyst) == Holder("analyst", "alice")
    assert reader.holder(probe) == Holder("probe", "it-1")
    assert reader.holder(revoked) is None
    assert reader.holder("bw_not-a-token") is None
    # a rotation the collector makes later bites at once: the reader keeps no cache
    rotated = registry.add("analyst", "alice", rotate=True)
    assert reader.holder(analyst) is None
    assert reader.holder(rotated) == Holder("analyst", "alice")
    reader.close()
    registry.close()


def test_a_missing_registry_is_one_error_and_no_new_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "registry.db"
    with pytest.raises(RegistryUnreadable, match="cannot read registry"):
        TokenReader(path)
    assert not path.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(RegistryUnreadable, match="no such table: principals"):
        TokenReader(empty)
