"""Arrows run one way (docs/design-notes.md, "Rooms and arrows").

Every module of every room is read as source (AST, so imports inside functions
count too, and nothing is imported to find out) and each import of a
blockwatch module is checked against the allowed graph:

    probe     -> lower
    collector -> lower, analysis
    analysis  -> lower
    lower     -> lower

where "lower" is the packages every room may use (blockwatch.v1, .contract,
.schema, .runtime). A module named by a string to importlib or to
importlib.resources counts as an import: that is how the migrations were read.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOWER = "lower"
# room -> the folder holding its modules as blockwatch.<package>
ROOMS: dict[str, tuple[str, ...]] = {
    "probe": ("probe/blockwatch/probe",),
    "collector": ("collector/blockwatch/collector",),
    "analysis": ("analysis/blockwatch/analysis",),
    LOWER: ("proto/blockwatch/v1", "proto/blockwatch/contract", "proto/blockwatch/schema",
            "proto/blockwatch/runtime"),
}
ALLOWED: dict[str, frozenset[str]] = {
    "probe": frozenset({"probe", LOWER}),
    "collector": frozenset({"collector", "analysis", LOWER}),
    "analysis": frozenset({"analysis", LOWER}),
    LOWER: frozenset({LOWER}),
}
_BY_PACKAGE = {"blockwatch." + Path(folder).name: room
               for room, folders in ROOMS.items() for folder in folders}


def room_of(module: str) -> str | None:
    """The room a dotted blockwatch module belongs to (None: not ours)."""
    for package, room in _BY_PACKAGE.items():
        if module == package or module.startswith(package + "."):
            return room
    return None


def module_name(path: Path) -> str:
    package_dir = path.parent
    folder = next(f for folders in ROOMS.values() for f in folders
                  if package_dir.is_relative_to(ROOT / f))
    parts = ["blockwatch", Path(folder).name, *package_dir.relative_to(ROOT / folder).parts]
    if path.stem != "__init__":
        parts.append(path.stem)
    return ".".join(parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, dotted module) of every import in a module, wherever it sits."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:   # `from blockwatch import collector`
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (name in {"import_module", "files", "__import__"}
                    and isinstance(first, ast.Constant) and isinstance(first.value, str)):
                yield node.lineno, first.value


def sources() -> Iterator[tuple[str, Path]]:
    for room, folders in ROOMS.items():
        for folder in folders:
            for path in sorted((ROOT / folder).rglob("*.py")):
                yield room, path


def forbidden_arrows() -> list[str]:
    found: dict[tuple[str, int], str] = {}
    for room, path in sources():
        module = module_name(path)
        where = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"), where)
        for line, target in imported(tree, module, path.stem == "__init__"):
            to = room_of(target)
            if to is not None and to not in ALLOWED[room] and (where, line) not in found:
                found[where, line] = f"{where}:{line}: {room} -> {to} ({target})"
    return sorted(found.values())


def test_every_room_exists() -> None:
    """A renamed folder would make the walk below see nothing and pass."""
    counts = {room: sum(1 for r, _ in sources() if r == room) for room in ROOMS}
    assert all(counts[room] >= 3 for room in ROOMS), counts


def test_arrows_run_one_way() -> None:
    assert forbidden_arrows() == []


def test_the_walk_sees_function_level_and_string_imports() -> None:
    source = (
        "import blockwatch.probe.config\n"
        "def f():\n"
        "    from blockwatch.collector import registry\n"
        "    resources.files('blockwatch.analysis.data')\n"
        "from ..collector.orders import Order\n"
    )
    got = [m for _, m in imported(ast.parse(source), "blockwatch.analysis.webview.x", False)]
    assert "blockwatch.probe.config" in got
    assert "blockwatch.collector.registry" in got
    assert "blockwatch.analysis.data" in got
    assert "blockwatch.analysis.collector.orders" in got   # relative, resolved
    assert {room_of(m) for m in got} >= {"probe", "collector", "analysis"}
