"""The probe's exception hierarchy: one root, structured subclasses."""

from __future__ import annotations


class ProbeError(Exception):
    """Root of every error the probe raises on purpose."""


class ConfigError(ProbeError):
    """The configuration is invalid; `field` names the offending setting."""

    def __init__(self, message: str, *, field: str = "", source: str = "") -> None:
        self.field = field
        self.source = source
        where = f"{source}: " if source else ""
        at = f"{field}: " if field else ""
        super().__init__(f"{where}{at}{message}")


class SpoolError(ProbeError):
    """The on-disk spool could not be opened or written."""


class SpoolFullError(SpoolError):
    """The spool reached its size bound and is configured not to drop data."""


class DiskFullError(SpoolError):
    """The filesystem under the spool is full: nothing new can be committed."""


class UploadError(ProbeError):
    """Delivering measurements to the collector failed."""


class TokenRefused(UploadError):
    """The collector refused this probe's credentials: retrying soon cannot help."""

