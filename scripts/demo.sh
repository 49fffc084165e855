#!/usr/bin/env bash
# README's first command: install, then run the offline demo (lab world,
# collector on embedded chDB, a probe round uploaded and stored). Needs root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${BLOCKWATCH_VENV:-$ROOT/.venv}
"$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$VENV/bin/python" -m tests.lab.demo
