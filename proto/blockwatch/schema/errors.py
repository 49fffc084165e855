"""The schema's errors: one root under blockwatch.contract's BlockwatchError."""

from __future__ import annotations

from blockwatch.contract.errors import BlockwatchError


class SchemaError(BlockwatchError):
    """Root of every error the schema package raises on purpose."""


class MigrationError(SchemaError):
    """A schema migration could not be applied; `version` names it, `reason` says why."""

    def __init__(self, message: str, *, version: int) -> None:
        self.version = version
        self.reason = message
        super().__init__(f"migration {version:04d}: {message}")
