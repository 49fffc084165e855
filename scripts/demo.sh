#!/usr/bin/env bash
# README's first command: install, then run the offline demo (a four-country lab
# world of DNS and web servers, the collector on embedded chDB, a probe per
# country with web follow-up, rounds with policy switches and mirror
# candidates, reports at the site layer: compliance says "blocked when
# monitoring began", "first seen blocked after N days of monitoring" or "never
# blocked", and days late only with evidence. Cloudflare's 1.1.1.1 resolves the
# Milan sites normally, as in reality; its edge answers HTTP 451 in Italy from
# the compliance round, which the reports count as Cloudflare's remedy).
# Needs root. Under the directory you run this from, the HTML report and chart
# land in ./blockwatch-demo-report/ and the collector's database stays in
# ./blockwatch-demo-data/db: the demo ends with `blockwatch report … --db`
# commands to run on it next.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${BLOCKWATCH_VENV:-$ROOT/.venv}
"$ROOT/scripts/setup.sh"
# tests.lab is imported from the checkout, not from the current directory.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m tests.lab.demo
