"""How many engine threads the background lane gets: every core only when the
engine will run them below ingest's priority (CAP_SYS_NICE), else one."""

from __future__ import annotations

from pathlib import Path

from blockwatch.collector.lane import background_threads, can_lower_engine_threads

_STATUS = "Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t{eff}\nCapBnd:\t000001ffffffffff\n"


def _status(tmp_path: Path, eff: str) -> Path:
    path = tmp_path / "status"
    path.write_text(_STATUS.format(eff=eff))
    return path


def test_cap_sys_nice_is_read_from_the_effective_set(tmp_path: Path) -> None:
    assert can_lower_engine_threads(_status(tmp_path, "000001ffffffffff"))      # root
    assert can_lower_engine_threads(_status(tmp_path, "0000000000800000"))      # just it
    assert not can_lower_engine_threads(_status(tmp_path, "0000000000000400"))  # bind only
    assert not can_lower_engine_threads(_status(tmp_path, "0000000000000000"))
    assert not can_lower_engine_threads(tmp_path / "missing")


def test_every_core_only_when_the_threads_are_niced() -> None:
    assert background_threads(niceable=True, cores=2) == 2
    assert background_threads(niceable=True, cores=16) == 16
    assert background_threads(niceable=False, cores=16) == 1
    assert background_threads(niceable=True, cores=None) == 1
