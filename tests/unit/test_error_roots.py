"""One exception root per component (ProbeError, CollectorError,
AnalysisError), all under blockwatch.contract's BlockwatchError, with the
shared ConfigError the base of both components' configuration errors; the
analysts' CLI tells its own errors from bugs with isinstance. Every exception
class a package defines is under its root, internal signals too (a parse
step's refusal, a reader's bound): none is left out by a list of exceptions."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import typer

from blockwatch.analysis.cli import _run
from blockwatch.analysis.errors import AnalysisError, UsageError
from blockwatch.collector.errors import CollectorError, StorageError
from blockwatch.collector.errors import ConfigError as CollectorConfigError
from blockwatch.contract.errors import BlockwatchError, ConfigError
from blockwatch.probe.errors import ConfigError as ProbeConfigError
from blockwatch.probe.errors import ProbeError
from blockwatch.schema.errors import SchemaError

ROOTS = {"blockwatch.probe": ProbeError, "blockwatch.collector": CollectorError,
         "blockwatch.analysis": AnalysisError, "blockwatch.schema": SchemaError,
         "blockwatch.contract": BlockwatchError, "blockwatch.runtime": BlockwatchError}


def test_each_component_root_is_a_blockwatch_error() -> None:
    for root in ROOTS.values():
        assert issubclass(root, BlockwatchError)
    assert not issubclass(ProbeError, CollectorError | AnalysisError)
    assert not issubclass(CollectorError, ProbeError | AnalysisError)


def test_config_error_is_shared_and_its_components() -> None:
    for own, root in ((ProbeConfigError, ProbeError), (CollectorConfigError, CollectorError)):
        error = own("must be positive", field="interval_s", source="probe.toml")
        assert isinstance(error, ConfigError) and isinstance(error, root)
        assert str(error) == "probe.toml: interval_s: must be positive"
        assert (error.field, error.source) == ("interval_s", "probe.toml")
        assert str(own("no config file")) == "no config file"


def _modules(package: str) -> list[str]:
    root = importlib.import_module(package)
    return [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")
            if not m.name.endswith("__main__")]


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_error_a_component_defines_is_under_its_root(package: str) -> None:
    outside = []
    for name in _modules(package):
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (cls.__module__ == name and issubclass(cls, BaseException)
                    and not issubclass(cls, ROOTS[package])):
                outside.append(f"{name}.{cls.__name__}")
    assert outside == []


def _exit_code(error: BaseException, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    def fail() -> None:
        raise error

    with pytest.raises(typer.Exit) as done:
        _run(fail)
    return done.value.exit_code, capsys.readouterr().err


def test_the_analysts_cli_says_any_components_error_in_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(UsageError("pick one", field="db"), capsys) == (
        2, "usage error: db: pick one\n")
    assert _exit_code(StorageError("cannot open ClickHouse"), capsys) == (
        1, "error: cannot open ClickHouse\n")
    assert _exit_code(CollectorConfigError("bad", field="settle_s"), capsys) == (
        1, "error: settle_s: bad\n")


def test_the_analysts_cli_lets_a_bug_show() -> None:
    class Bug(Exception):
        pass

    Bug.__module__ = "blockwatch.analysis.reports"   # where a bug would come from

    def fail() -> None:
        raise Bug("a bug")

    with pytest.raises(Bug):
        _run(fail)
