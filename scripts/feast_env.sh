#!/usr/bin/env bash
# The Feast tests, in their own virtualenv: Feast pins older redis-py and pandas than mlbedge's
# default install, so it never goes into .venv. Builds .venv-feast once (again when pyproject.toml
# changes), then runs only tests/store/feast (the main run does not collect them).
# Usage: scripts/feast_env.sh [pytest args...]   (FEAST_VENV, PYTHON override the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${FEAST_VENV:-.venv-feast}
STAMP="$VENV/.installed"

if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  started=$(date +%s)
  echo "feast env: building $VENV (pip install -e '.[feast,dev]') ..."
  log=$(mktemp)
  if ! { "$PYTHON" -m venv "$VENV" &&
         "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip &&
         "$VENV/bin/pip" install --quiet --disable-pip-version-check -e '.[feast,dev]'; } >"$log" 2>&1; then
    cat "$log"
    echo "feast env: building $VENV failed"
    exit 1
  fi
  rm -f "$log"
  "$VENV/bin/python" -c "import feast, mlbedge"  # fail here, not in pytest, if the install is broken
  touch "$STAMP"
  echo "feast env: built in $(( $(date +%s) - started )) s"
fi

exec "$VENV/bin/python" -m pytest tests/store/feast -m feast "$@"
