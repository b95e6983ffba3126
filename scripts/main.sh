#!/usr/bin/env bash
# The main job on the embedded default: set up, start the stack, make the demo data, then train and apply
# a churn and a product recommendation query through the REST API (`pq quickstart`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export PQ_HOME=${PQ_HOME:-$PWD/.pq}
SCALE=${PQ_DEMO_SCALE:-1}

pq up
if [[ ! -f "$PQ_HOME/demo/schema.json" ]]; then
  pq demo-data --scale "$SCALE" --format csv --out "$PQ_HOME/demo"
fi
pq quickstart --data "$PQ_HOME/demo" --run-mode "${PQ_RUN_MODE:-fast}"
pq status
