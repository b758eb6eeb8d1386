#!/usr/bin/env bash
# Create the peer-tool environment (.venv-peers) that bench/run.py measures mlnb against.
#
# The peers live in their own venv because Evidently does not import with pandas 3, which
# mlnb's own environment uses. The script is idempotent: when the venv exists and a marker
# records that exactly these requirements were installed and import, it returns at once.
#
# Usage: bash bench/setup_peers.sh            (from the repository root or anywhere)
#        PEERS_VENV=/path PYTHON=python3.11 bash bench/setup_peers.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/.venv-peers}"
PYTHON="${PYTHON:-python3}"
MARKER="$VENV/.mlnb-peers-ready"

# Installed by package name through pip's configured index; no host names here.
REQUIREMENTS=(
  "mlflow[auth]>=3,<4"  # the auth extra: `mlflow server --app-name basic-auth` in the sync tests
  "evidently"
  "nannyml"
  "scikit-learn"
  "pandas<3"
  "pyarrow"
  "numpy"
)
WANT="$(printf '%s\n' "${REQUIREMENTS[@]}")"

peers_import() {
  "$VENV/bin/python" -c "import mlflow, evidently, nannyml, sklearn, pandas, pyarrow; \
assert int(mlflow.__version__.split('.')[0]) >= 3, mlflow.__version__; \
assert int(pandas.__version__.split('.')[0]) < 3, pandas.__version__" >/dev/null 2>&1
}

# Cheap check for the second run: marker matches and the venv's interpreter still starts.
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" ]] && "$VENV/bin/python" -c "" 2>/dev/null; then
  echo "peers ready: $VENV"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi

echo "installing peers into $VENV: ${REQUIREMENTS[*]}"
"$VENV/bin/python" -m pip install -qq --upgrade pip
"$VENV/bin/python" -m pip install -qq "${REQUIREMENTS[@]}"

if ! peers_import; then
  echo "error: peers were installed but do not import; see: $VENV/bin/python -c 'import mlflow, evidently'" >&2
  exit 1
fi
printf '%s' "$WANT" >"$MARKER"
"$VENV/bin/python" -c "import mlflow, evidently, pandas, sklearn; \
print(f'peers ready: mlflow {mlflow.__version__}, evidently {evidently.__version__}, pandas {pandas.__version__}, scikit-learn {sklearn.__version__}')"
