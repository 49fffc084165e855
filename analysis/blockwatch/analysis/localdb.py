"""Opening a database with --db the way an analyst means it: a chDB path must
already hold a blockwatch database (a typo would otherwise create an empty one)
and must not be held by another process (chDB admits one process per path;
while a collector serves it, reports go through its Reports RPC)."""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

from blockwatch.analysis.errors import AnalysisError, UsageError

_PID = re.compile(r"^PID:\s*(\d+)", re.MULTILINE)


class SourceError(AnalysisError):
    """--db names no usable blockwatch database."""


def chdb_path(dsn: str) -> Path | None:
    """The directory of a chdb:// DSN; None for a server DSN."""
    if not dsn.startswith("chdb://"):
        return None
    path = dsn[len("chdb://"):].split("?", 1)[0]
    if not path:
        raise UsageError(f"{dsn!r}: give a path, e.g. chdb:///var/lib/blockwatch/db",
                         field="db")
    return Path(path)


def holder(path: Path) -> str | None:
    """'pid N' (or 'another process') if a process holds the chDB path, else None.

    ClickHouse keeps an exclusive flock on `status` while it runs and writes
    its PID there."""
    status = path / "status"
    try:
        fd = os.open(status, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 256).decode("utf-8", "replace")
            found = _PID.search(text)
            return f"pid {found.group(1)}" if found else "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def check_chdb(dsn: str, database: str) -> None:
    """Refuse a chDB path that holds no blockwatch database, or that a running
    process (a collector) holds; server DSNs pass unchecked."""
    path = chdb_path(dsn)
    if path is None:
        return
    if not path.is_dir():
        raise SourceError(f"{path}: no such directory; --db wants the chDB directory a "
                          "collector created (its data directory's db/)")
    if not (path / "metadata" / f"{database}.sql").exists():
        raise SourceError(f"{path} holds no blockwatch database {database!r} (mistyped "
                          "path? a collector's data directory keeps it in db/)")
    held = holder(path)
    if held is not None:
        raise SourceError(f"{path} is held by {held}, probably a running collector; ask it "
                          "instead: --collector unix:/run/blockwatch/collector.sock "
                          "--token-file FILE")
