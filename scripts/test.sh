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
# Two workers, a test file each at a time (module-scoped worlds are built
# once): most tests wait on daemons and timeouts, so two halve the wall time
# on two cores. BLOCKWATCH_TEST_WORKERS=0 runs in one process. The slowest
# tests are printed to keep CI inside its time budget.
WORKERS=${BLOCKWATCH_TEST_WORKERS:-2}
if [ "$WORKERS" = 0 ]; then PARALLEL=(); else PARALLEL=(-n "$WORKERS" --dist loadfile); fi
"$VENV/bin/python" -m pytest "${PARALLEL[@]}" --durations=25 "$@"
