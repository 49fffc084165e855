"""The analysis package's exception hierarchy: one root, structured subclasses.

`AnalysisError` sits under blockwatch.contract's `BlockwatchError`, beside the
collector's and the probe's roots.
"""

from __future__ import annotations

from blockwatch.contract.errors import BlockwatchError


class AnalysisError(BlockwatchError):
    """Root of every error the analysis package raises on purpose."""


class DataError(AnalysisError):
    """A packaged data file (fingerprints, shapes) is missing or malformed."""


class QueryError(AnalysisError):
    """ClickHouse refused or failed a report or classification query."""


class UsageError(AnalysisError):
    """The request cannot be answered as asked (unknown report, bad filter);
    `field` names the offending option. CLIs exit 2 on it."""

    def __init__(self, message: str, *, field: str = "") -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class RemoteError(AnalysisError):
    """The collector's Reports RPC failed; `code` is the gRPC status name."""

    def __init__(self, message: str, *, code: str = "") -> None:
        self.code = code
        super().__init__(f"{code}: {message}" if code else message)
