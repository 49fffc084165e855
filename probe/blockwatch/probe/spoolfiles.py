"""Two small files beside the spool database that SQLite cannot provide itself.

- `HighWater`: the sequence number of the last committed measurement, written
  after each commit. SQLite recovers a damaged WAL by silently ignoring every
  frame from the first one whose checksum fails (a truncated or zeroed tail),
  so committed transactions can vanish without an error. Comparing this mark
  with what the database still holds at open counts what was lost.
- `Reserve`: space held back on the spool's filesystem. On a full disk every
  SQLite write fails, including the ones that free space (forming a batch,
  deleting an acknowledged one, checkpointing the WAL); deleting the reserve
  lets delivery go on and so free space inside the spool.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

_MAGIC = b"BWSPOOL1"
_FORMAT = struct.Struct("<8sQ")


class HighWater:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def read(self) -> int | None:
        """The last mark written, or None when there is none (new or unreadable)."""
        data = os.pread(self._fd, _FORMAT.size, 0)
        if len(data) != _FORMAT.size:
            return None
        magic, seq = _FORMAT.unpack(data)
        return int(seq) if magic == _MAGIC else None

    def write(self, seq: int) -> None:
        # one 16-byte write at offset 0: within one sector, so never half-written
        os.pwrite(self._fd, _FORMAT.pack(_MAGIC, seq), 0)

    def close(self) -> None:
        os.close(self._fd)


class Reserve:
    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    @property
    def held(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except FileNotFoundError:
            return False

    def take(self) -> bool:
        """Hold the reserve's space; False (and nothing left behind) if there is none."""
        if self.held:
            return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)
            finally:
                os.close(fd)
        except OSError:
            self.release()
            return False
        return True

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
