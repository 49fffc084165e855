"""The probe's exception hierarchy: one root, structured subclasses.

`ProbeError` sits under blockwatch.contract's `BlockwatchError`; a bad
configuration is both a ProbeError and the shared `ConfigError`.
"""

from __future__ import annotations

from blockwatch.contract import errors as shared


class ProbeError(shared.BlockwatchError):
    """Root of every error the probe raises on purpose."""


class ConfigError(ProbeError, shared.ConfigError):
    """The probe's configuration is invalid; `field` names the offending setting."""


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

