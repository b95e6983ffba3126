#!/usr/bin/env bash
# The main job on the embedded default: set up, start the stack, make demo data, report what is ready.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export PQ_HOME=${PQ_HOME:-$PWD/.pq}
SCALE=${PQ_DEMO_SCALE:-1}

pq up
pq demo-data --scale "$SCALE" --out "$PQ_HOME/demo"
pq pql check --schema "$PQ_HOME/demo/schema.json" \
  "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0"
pq status
