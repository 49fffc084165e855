#!/usr/bin/env bash
# README's test command: set up, lint, type-check, run every test.
# As root the tests seal themselves in a private network namespace and start
# real DNS servers; without root the lab tests are skipped.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${BLOCKWATCH_VENV:-$ROOT/.venv}
"$ROOT/scripts/setup.sh"
cd "$ROOT"
"$VENV/bin/ruff" check .
"$VENV/bin/mypy" probe collector analysis proto/generate.py bench tests
# the slowest tests in every run, to keep CI inside its time budget
"$VENV/bin/python" -m pytest --durations=25 "$@"
