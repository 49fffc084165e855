"""The collector's exception hierarchy: one root, structured subclasses.

Each subclass carries the fields a caller needs to act (which record, which
field, which row) so handlers never parse messages. `CollectorError` sits
under blockwatch.contract's `BlockwatchError`; a bad configuration is both a
CollectorError and the shared `ConfigError`.
"""

from __future__ import annotations

from blockwatch.contract import errors as shared
from blockwatch.schema import errors as schema


class CollectorError(shared.BlockwatchError):
    """Root of every error the collector raises on purpose."""


class ConfigError(CollectorError, shared.ConfigError):
    """The collector's configuration is invalid; `field` names the offending setting."""


class StorageError(CollectorError):
    """ClickHouse refused or failed an operation (schema, query, insert)."""


class StorageUnavailable(StorageError):
    """A write did not complete; the data was not acknowledged and must be resent."""


class MigrationError(StorageError, schema.MigrationError):
    """blockwatch.schema's MigrationError as the collector's own (Store.migrate)."""


class RegistryError(CollectorError):
    """The probe/analyst registry (SQLite) could not be read or written."""


class PrincipalExists(RegistryError):
    """A probe or analyst with this name is already registered."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name!r} is already registered (use --rotate to issue a new token)")


class UnknownPrincipal(RegistryError):
    """No active probe or analyst has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name!r} is not registered")


class AuthError(CollectorError):
    """A caller could not be authenticated (`denied` False) or lacks the role (True)."""

    def __init__(self, message: str, *, denied: bool = False) -> None:
        self.denied = denied
        super().__init__(message)


class ValidationError(CollectorError):
    """A batch is malformed; `record_index` (-1: the batch) and `field` locate it."""

    def __init__(self, message: str, *, record_index: int = -1, field: str = "") -> None:
        self.reason = message
        self.record_index = record_index
        self.field = field
        where = f"record {record_index} " if record_index >= 0 else ""
        at = f"{field}: " if field else ""
        super().__init__(f"{where}{at}{message}")


class BatchTooLarge(ValidationError):
    """A batch exceeds the collector's limits; the probe should split it."""


class OrdersError(CollectorError):
    """An orders/targets file is invalid; `row` (1-based, 0: file) and `field` locate it."""

    def __init__(self, message: str, *, source: str = "", row: int = 0, field: str = "") -> None:
        self.source = source
        self.row = row
        self.field = field
        where = f"{source}: " if source else ""
        at_row = f"row {row}: " if row else ""
        at = f"{field}: " if field else ""
        super().__init__(f"{where}{at_row}{at}{message}")
