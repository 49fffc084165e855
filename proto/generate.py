"""Regenerate the Python code for the wire contract from proto/blockwatch/v1/*.proto.

Usage: python proto/generate.py [--check]

--check exits 1 when the checked-in generated files differ from what the
.proto files produce now (tests call this to catch a stale contract).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = PROTO_ROOT / "blockwatch" / "v1"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _generate(out_dir: Path) -> list[Path]:
    import grpc_tools
    from grpc_tools import protoc  # dev dependency only

    protos = sorted(PACKAGE_DIR.glob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out_dir / "blockwatch" / "v1").iterdir() if p.name.endswith(SUFFIXES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p.read_bytes() for p in _generate(Path(tmp))}
    current = {p.name: p.read_bytes() for p in PACKAGE_DIR.iterdir() if p.name.endswith(SUFFIXES)}
    if args.check:
        stale = sorted(n for n in fresh.keys() | current.keys() if fresh.get(n) != current.get(n))
        if stale:
            print("stale generated code: " + ", ".join(stale), file=sys.stderr)
            print("run: python proto/generate.py", file=sys.stderr)
            return 1
        return 0
    for name in current.keys() - fresh.keys():
        (PACKAGE_DIR / name).unlink()
    for name, data in fresh.items():
        (PACKAGE_DIR / name).write_bytes(data)
    print(f"wrote {len(fresh)} files to {PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
