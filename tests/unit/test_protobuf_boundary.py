"""Generated protobuf classes stay behind the adapters.

Only the adapter modules speak protobuf; every other module of the probe, the
collector and analysis works with the project's own types. Grepping import
lines is not enough: an adapter can hand a protobuf class or message on (a
re-export such as `SubmitResponse = pb.SubmitResponse`, or a public function
returning `pb.Something`), and the module using it then depends on the
generated code without importing it. This walks the syntax tree of every
module and fails on both.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("probe", "collector", "analysis")
ADAPTERS = {
    "probe/blockwatch/probe/wire.py": "blockwatch.probe.wire",
    "collector/blockwatch/collector/servicer.py": "blockwatch.collector.servicer",
    "collector/blockwatch/collector/reports_servicer.py": "blockwatch.collector.reports_servicer",
    "analysis/blockwatch/analysis/remote.py": "blockwatch.analysis.remote",
}


# gRPC's standard services (health) come with their own generated code; the
# server wires them in, and nothing of the project's contract is in them.
_GRPC_SERVICES = ("grpc_health", "grpc_reflection")


def _is_protobuf_module(name: str) -> bool:
    if name.startswith(_GRPC_SERVICES):
        return False
    return (name.endswith("_pb2") or "_pb2." in name or name.endswith("_pb2_grpc")
            or name == "blockwatch.v1" or name.startswith(("blockwatch.v1.", "google.protobuf")))


def _protobuf_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Every import of generated code (or of protobuf itself), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_protobuf_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
            if _is_protobuf_module(node.module) or any(map(_is_protobuf_module, names)):
                found.append((node.lineno, node.module))
    return found


def _protobuf_aliases(tree: ast.Module) -> set[str]:
    """Names an adapter binds to generated modules (`pb`) or their members."""
    aliases: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            aliases |= {(a.asname or a.name).split(".")[0] for a in node.names
                        if _is_protobuf_module(a.name)}
        elif isinstance(node, ast.ImportFrom) and node.module and (
                _is_protobuf_module(node.module)
                or any(_is_protobuf_module(f"{node.module}.{a.name}") for a in node.names)):
            aliases |= {a.asname or a.name for a in node.names}
    return aliases


def _mentions(node: ast.AST | None, aliases: set[str]) -> bool:
    if node is None:
        return False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "pb.Foo" annotations
        return any(node.value == a or node.value.startswith(f"{a}.") for a in aliases)
    return any(isinstance(n, ast.Name) and n.id in aliases for n in ast.walk(node))


def _exposed(tree: ast.Module) -> set[str]:
    """Public module-level names of an adapter that hand protobuf on: names bound
    to generated classes or messages, and functions taking or returning them."""
    aliases = _protobuf_aliases(tree)
    exposed: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and _mentions(node.value, aliases):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            exposed |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if _mentions(node.returns, aliases) or any(
                    _mentions(a.annotation, aliases) for a in arguments):
                exposed.add(node.name)
    return {name for name in exposed if not name.startswith("_")}


def _uses_of(tree: ast.Module, module: str, names: set[str]) -> list[tuple[int, str]]:
    """References to `names` of `module`: `from module import name` and `alias.name`."""
    found: list[tuple[int, str]] = []
    aliases: set[str] = set()
    parent, _, leaf = module.rpartition(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == module:
            found += [(node.lineno, a.name) for a in node.names if a.name in names]
        elif isinstance(node, ast.ImportFrom) and node.module == parent:
            aliases |= {a.asname or a.name for a in node.names if a.name == leaf}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == module}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in names
                and ast.unparse(node.value) in aliases):
            found.append((node.lineno, node.attr))
    return found


def _modules() -> dict[str, ast.Module]:
    return {str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8"))
            for folder in PACKAGES for path in sorted((ROOT / folder).rglob("*.py"))
            if ".venv" not in path.parts}


def boundary_leaks(modules: dict[str, ast.Module]) -> list[str]:
    """Every place outside the adapters that touches generated protobuf code."""
    exposed = {ADAPTERS[path]: _exposed(tree) for path, tree in modules.items()
               if path in ADAPTERS}
    leaks: list[str] = []
    for path, tree in modules.items():
        if path in ADAPTERS:
            continue
        leaks += [f"{path}:{line}: imports {name}" for line, name in _protobuf_imports(tree)]
        for module, names in exposed.items():
            leaks += [f"{path}:{line}: uses {module}.{name}, which is protobuf"
                      for line, name in _uses_of(tree, module, names)]
    return leaks


def test_protobuf_stays_behind_the_adapters() -> None:
    leaks = boundary_leaks(_modules())
    assert not leaks, "protobuf outside the adapters:\n" + "\n".join(leaks)


def test_the_guard_sees_a_re_export_and_an_import() -> None:
    """The guard itself: a re-exported class, a function returning a message, and
    an import of generated code are each caught."""
    adapter = ast.parse(
        "from blockwatch.v1 import probe_pb2 as pb\n"
        "SubmitResponse = pb.SubmitResponse\n"
        "def decode(data: bytes) -> pb.SubmitResponse: ...\n"
        "def encode(message: 'pb.Batch') -> bytes: ...\n"
        "def own(data: bytes) -> int: ...\n")
    user = ast.parse(
        "from blockwatch.probe.wire import SubmitResponse, decode, own\n"
        "from blockwatch.probe import wire\n"
        "x = wire.encode\n")
    importer = ast.parse("import blockwatch.v1.probe_pb2\n")
    leaks = boundary_leaks({"probe/blockwatch/probe/wire.py": adapter,
                            "probe/blockwatch/probe/upload.py": user,
                            "probe/blockwatch/probe/other.py": importer})
    assert sorted(leaks) == sorted([
        "probe/blockwatch/probe/upload.py:1: uses blockwatch.probe.wire.SubmitResponse, "
        "which is protobuf",
        "probe/blockwatch/probe/upload.py:1: uses blockwatch.probe.wire.decode, which is protobuf",
        "probe/blockwatch/probe/upload.py:3: uses blockwatch.probe.wire.encode, which is protobuf",
        "probe/blockwatch/probe/other.py:1: imports blockwatch.v1.probe_pb2",
    ])
