"""Who holds a token: the registry's rule for tokens and a read path to it.

The registry (a SQLite file the collector writes, blockwatch.collector.registry)
stores each probe's and analyst's token as its SHA-256 only. Whoever checks a
token must hash it the same way: the collector, and the web view reading the
registry file itself (`blockwatch web --db … --registry …`), which must not
import the collector to do so (docs/design-notes.md, "Rooms and arrows").
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from blockwatch.schema.errors import SchemaError

Role = Literal["probe", "analyst"]
TOKEN_PREFIX = "bw_"   # lets secret scanners recognise a leaked token


def hash_token(token: str) -> str:
    """What the registry stores of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class RegistryUnreadable(SchemaError):
    """The registry file could not be opened or read."""


@dataclass(frozen=True, slots=True)
class Holder:
    """The active principal holding a token."""

    role: Role
    name: str


class TokenReader:
    """Reads the registry's principals without writing to it (no schema created:
    the collector owns the file). Thread-safe: one connection, used under SQLite's
    own serialization (check_same_thread off, one statement at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # mode=ro: a mistyped path is an error here, never a new empty registry
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                       check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.execute("SELECT 1 FROM principals LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise RegistryUnreadable(f"cannot read registry {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def holder(self, token: str) -> Holder | None:
        """The active (not revoked) principal holding this token, or None."""
        try:
            row = self._db.execute(
                "SELECT role, name FROM principals WHERE token_sha256 = ? "
                "AND revoked_at IS NULL", (hash_token(token),)).fetchone()
        except sqlite3.Error as exc:
            raise RegistryUnreadable(f"registry {self.path}: {exc}") from exc
        if row is None or row[0] not in ("probe", "analyst"):
            return None
        return Holder(row[0], str(row[1]))
