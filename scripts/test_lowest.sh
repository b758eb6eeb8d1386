#!/usr/bin/env bash
# `make test-lowest`: every direct dependency at its declared floor (uv's lowest-direct
# resolution) in its own venv, .venv-lowest, then the test suite without the browser tests
# (Chromium drives the same labextension whatever the Python floors are) and without the
# slow ones. Re-resolves only when pyproject.toml changed, so a second run starts at once.
#
# Usage: bash scripts/test_lowest.sh [pytest args]      (UV=/path/to/uv to pick a uv)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${LOWEST_VENV:-$ROOT/.venv-lowest}"
UV="${UV:-$(command -v uv || echo "$ROOT/.venv/bin/uv")}"
PYTHON_VERSION="${LOWEST_PYTHON:-3.11}"
STAMP="$VENV/.mlnb-lowest"
WANT="$(cat pyproject.toml "${BASH_SOURCE[0]}" | sha256sum | cut -d" " -f1)"

if [[ ! -x "$UV" ]]; then
  echo "error: uv not found; install the test extra (pip install -e '.[test]') or set UV=" >&2
  exit 1
fi
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  rm -rf "$VENV"
  "$UV" venv -q --python "$PYTHON_VERSION" "$VENV"
  "$UV" pip install -q --python "$VENV/bin/python" --resolution lowest-direct \
    -r pyproject.toml --extra test --extra mlflow --extra serve
  # mlnb itself for its metadata (version, entry points); the code under test is the
  # checkout's, first on PYTHONPATH. The sidebar built by `make install` is reused.
  "$UV" pip install -q --python "$VENV/bin/python" --no-deps .
  printf '%s' "$WANT" >"$STAMP"
fi
"$VENV/bin/python" -c "import numpy, pandas, sklearn, scipy, IPython, jupyter_server; \
print(f'lowest: numpy {numpy.__version__}, pandas {pandas.__version__}, scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, ipython {IPython.__version__}, jupyter_server {jupyter_server.__version__}')"
PYTHONPATH="$ROOT" "$VENV/bin/python" -m pytest -q -m "not slow and not browser" \
  --ignore=tests/browser -p no:cacheprovider "$@"
