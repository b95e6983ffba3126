#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment; idempotent.
#   scripts/bootstrap.sh            runtime dependencies
#   scripts/bootstrap.sh test       runtime and test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${PQ_VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
EXTRAS=${1:-}

if ! command -v java >/dev/null 2>&1; then
  echo "bootstrap: installing a Java runtime for Spark"
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

# Browser tests drive Debian's Chromium (Playwright's own browser download cannot work offline).
if [[ "$EXTRAS" == *test* ]] && ! command -v chromium >/dev/null 2>&1; then
  echo "bootstrap: installing Chromium for the browser tests"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "bootstrap: creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
fi

spec="."
[[ -n "$EXTRAS" ]] && spec=".[$EXTRAS]"
# Re-install only when the declared dependencies changed since the last install of this spec.
stamp="$VENV/.installed-${EXTRAS:-runtime}"
digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$digest" ]]; then
  echo "bootstrap: installing $spec into $VENV (this takes a few minutes the first time)"
  "$VENV/bin/pip" install -q -e "$spec"
  echo "$digest" > "$stamp"
fi
