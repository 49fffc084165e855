"""Docs and comments name files that exist.

Modules get renamed and moved (classify.py -> dnsverdicts.py and verdictpass.py,
the migrations into blockwatch.schema, ...) and the prose that points at them
goes stale silently: webbounds.py's docstring sent readers to a test module
that never existed under that name. Every path with a folder in it (`collector/verdictpass.py`,
`tests/lab/truth.py`, `data/SOURCE.md`) in README.md, docs/*.md, the scripts'
and ansible templates' text, and the comments and docstrings of the code must
name a file of the repository: the path itself, or the end of one
(`collector/verdictpass.py` is collector/blockwatch/collector/verdictpass.py).
Plain strings in code are not read: tests build paths that must not exist.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_SKIP_DIRS = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
              "blockwatch.egg-info", "node_modules"}
_CODE_DIRS = ("probe", "collector", "analysis", "proto", "bench", "tests", "scripts")
_TEXT_GLOBS = ("README.md", "docs/*.md", "scripts/*.sh", "ansible/**/*.j2", "ansible/**/*.yml")
# a path with at least one folder, ending in a kind of file the project keeps
_PATH = re.compile(r"(?<![\w./:$}-])((?:\.\./|\./)*(?:[\w-]+/)+[\w.-]+\."
                   r"(?:py|md|sql|toml|yaml|yml|csv|j2|sh|proto))(?![\w/-])")


def _repo_files() -> list[str]:
    found = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in _SKIP_DIRS for part in rel.parts) or not path.is_file():
            continue
        found.append(rel.as_posix())
    return found


def _code_prose(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring of a Python module."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                yield body[0].lineno, body[0].value.value


def _texts() -> Iterator[tuple[str, int, str]]:
    """(file, line, text) of every piece of prose that may name a file."""
    for pattern in _TEXT_GLOBS:
        for path in sorted(ROOT.glob(pattern)):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                yield path.relative_to(ROOT).as_posix(), number, line
    for folder in _CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if any(part in _SKIP_DIRS for part in rel.parts) or "_pb2" in path.name:
                continue
            for number, text in _code_prose(path.read_text(encoding="utf-8")):
                yield rel.as_posix(), number, text


def _resolves(ref: str, files: list[str]) -> bool:
    name = ref
    while name.startswith(("./", "../")):
        name = name.split("/", 1)[1]
    if "NNNN_name" in name:   # a kind of file: a migration's number and name
        pattern = re.compile(r"(?:.*/)?" + re.escape(name).replace("NNNN_name", r"\d{4}_\w+"))
        return any(pattern.fullmatch(f) for f in files)
    return any(f == name or f.endswith("/" + name) for f in files)


def stale_paths() -> list[str]:
    files = _repo_files()
    stale = []
    for where, line, text in _texts():
        for match in _PATH.finditer(text):
            if not _resolves(match.group(1), files):
                stale.append(f"{where}:{line}: {match.group(1)}")
    return stale


def test_the_scan_reads_docs_and_code_prose() -> None:
    """The scan itself: it finds the paths docs and docstrings really give."""
    found = {(where, m.group(1)) for where, _, text in _texts() for m in _PATH.finditer(text)}
    assert ("README.md", "tests/lab/truth.py") in found
    assert any(where.startswith("docs/") and ref.endswith("verdictpass.py")
               for where, ref in found)
    assert ("tests/unit/test_doc_paths.py", "collector/verdictpass.py") in found


def test_a_missing_path_is_named() -> None:
    files = _repo_files()
    assert _resolves("collector/verdictpass.py", files)
    assert _resolves("../docs/web.md", files)
    assert not _resolves("collector/classify.py", files)
    assert not _resolves("tests/unit/test_webbounds.py", files)
    assert _resolves("migrations/NNNN_name.sql", files)
    assert not _resolves("migrations/NNNN_name.py", files)


def test_every_path_in_docs_and_comments_exists() -> None:
    assert stale_paths() == []
