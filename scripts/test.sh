#!/usr/bin/env bash
# Set up and run the whole test suite (every tier: unit, integration, e2e, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
mkdir -p test-artifacts
# pytest exits 5 when it collected no test: that fails this script too.
exec .venv/bin/python -m pytest --junitxml=test-artifacts/junit.xml "$@"
