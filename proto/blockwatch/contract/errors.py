"""The exception bases every component shares.

Each component has one root (`ProbeError`, `CollectorError`, `AnalysisError`)
under `BlockwatchError`, so an entry point tells the project's own errors from
bugs with one `isinstance`. What two components mean alike, they share:
`ConfigError` here is the base of both the probe's and the collector's.
"""

from __future__ import annotations


class BlockwatchError(Exception):
    """Root of every error blockwatch raises on purpose."""


class ContractError(BlockwatchError):
    """The code's copy of the contract disagrees with probe.proto (a build fault)."""


class ConfigError(BlockwatchError):
    """A configuration is invalid; `field` names the offending setting."""

    def __init__(self, message: str, *, field: str = "", source: str = "") -> None:
        self.field = field
        self.source = source
        where = f"{source}: " if source else ""
        at = f"{field}: " if field else ""
        super().__init__(f"{where}{at}{message}")
