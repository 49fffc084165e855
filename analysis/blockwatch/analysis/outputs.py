"""Writing the analyst's output files safely: a path that is a directory where
a file is wanted (or the reverse) is refused with one line, and so is a
planted symlink: files are created with O_NOFOLLOW, never written through a
link to somewhere else."""

from __future__ import annotations

import os
from pathlib import Path

from blockwatch.analysis.errors import AnalysisError


class OutputError(AnalysisError):
    """An output path cannot be written as asked; `field` names the option."""

    def __init__(self, message: str, *, field: str) -> None:
        self.field = field
        super().__init__(f"--{field} {message}")


def check_dir(path: Path, field: str = "out") -> None:
    """A directory to write into: absent (it will be created) or a real directory."""
    if path.is_symlink():
        raise OutputError(f"{path} is a symbolic link; refusing to follow it", field=field)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} exists and is not a directory; give a directory",
                          field=field)
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: {parent} does not exist", field=field)


def check_file(path: Path, field: str) -> None:
    """A file to (over)write: its directory exists, it is no directory and no symlink."""
    if path.is_symlink():
        raise OutputError(f"{path} is a symbolic link; refusing to follow it", field=field)
    if path.is_dir():
        raise OutputError(f"{path} is a directory; give a file name", field=field)
    if not path.parent.is_dir():
        raise OutputError(f"{path}: directory {path.parent} does not exist", field=field)


def write_file(path: Path, data: bytes, field: str) -> None:
    check_file(path, field)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise OutputError(f"{path}: {exc.strerror}", field=field) from exc
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def make_dir(path: Path, field: str = "out") -> None:
    check_dir(path, field)
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: {exc.strerror}", field=field) from exc
