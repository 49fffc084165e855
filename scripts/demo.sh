#!/usr/bin/env bash
# README's first command: install, then run the offline demo (a four-country lab
# world, the collector on embedded chDB, a probe per country, rounds with policy
# switches, reports). Needs root. The HTML report and chart land in
# ./blockwatch-demo-report/ under the directory you run this from.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${BLOCKWATCH_VENV:-$ROOT/.venv}
"$ROOT/scripts/setup.sh"
# tests.lab is imported from the checkout, not from the current directory.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m tests.lab.demo
