#!/usr/bin/env bash
# Creates .venv-airflow (Apache Airflow + papermill + ipykernel), the environment the Airflow
# export test runs the generated DAG in. Idempotent: returns at once when it is ready.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AIRFLOW_VENV:-$ROOT/.venv-airflow}"
PYTHON="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import airflow, papermill, ipykernel" 2>/dev/null; then
  exit 0
fi
echo "installing Apache Airflow into $VENV (a few minutes)..."
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "apache-airflow>=2.9,<4" papermill ipykernel
"$VENV/bin/python" -c "import airflow; print('airflow', airflow.__version__, 'ready')"
