"""A probe's target file: one name a line, `name,control` marks a control
(the contract's words), a comment after `#`; a bad line is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.probe.errors import ConfigError
from blockwatch.probe.observation import Purpose
from blockwatch.probe.targets import Target, read_target_file


def test_kinds_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_text("# Milan order\nkickasstorrents.to\nthepiratebay.org, target  # listed\n"
                    "\nexample.com,control\n")
    assert read_target_file(path) == [Target("kickasstorrents.to", Purpose.TARGET),
                                      Target("thepiratebay.org", Purpose.TARGET),
                                      Target("example.com", Purpose.CONTROL)]


def test_an_unknown_kind_names_the_line_and_the_kinds(tmp_path: Path) -> None:
    path = tmp_path / "targets.txt"
    path.write_text("kickasstorrents.to\nexample.com,contrl\n")
    with pytest.raises(ConfigError, match=r"line 2: unknown kind 'contrl' \(target or control\)"):
        read_target_file(path)
