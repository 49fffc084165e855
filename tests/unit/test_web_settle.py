"""How long a site verdict waits for its follow-ups (`web_settle_s`): a
collector setting, twice `settle_s` unless the config file says otherwise, and
a bad value names the key."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from blockwatch.collector.errors import ConfigError
from blockwatch.collector.lane import AnalysisLane
from blockwatch.collector.settings import build_settings
from blockwatch.collector.verdictpass import VerdictPass


def test_web_settle_comes_from_the_config_file(tmp_path: Path) -> None:
    assert build_settings(data_dir=tmp_path).web_settle_s is None
    config = tmp_path / "collector.toml"
    config.write_text("settle_s = 2\nweb_settle_s = 30\n")
    assert build_settings(config, data_dir=tmp_path).web_settle_s == 30.0


def test_a_bad_web_settle_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text("web_settle_s = -5\n")
    with pytest.raises(ConfigError, match="web_settle_s"):
        build_settings(config, data_dir=tmp_path)


def test_by_default_a_site_verdict_waits_twice_the_settle_time() -> None:
    lane = cast(AnalysisLane, object())     # never called here
    assert VerdictPass(lane, settle_s=2.0).web_settle_s == 4.0
    assert VerdictPass(lane, settle_s=60.0).web_settle_s == 120.0
    assert VerdictPass(lane, settle_s=2.0, web_settle_s=0.0).web_settle_s == 0.0
