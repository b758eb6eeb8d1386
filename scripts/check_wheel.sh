#!/usr/bin/env bash
# `make test` runs this: build the wheel and the sdist, install the wheel (with the `lab`
# extra) into a fresh venv with no Node.js on PATH, and check that JupyterLab and
# jupyter_server both report mlnb's extensions OK. A second run with unchanged sources
# reuses the built files and the venv, so it takes seconds.
#
# Usage: bash scripts/check_wheel.sh          (PY=python3 to pick the builder's Python)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PY:-$ROOT/.venv/bin/python}"
DIST="$ROOT/dist"
VENV="$ROOT/.venv-wheel"

# What the wheel is built from; the build reruns only when this changes.
sources_digest() {
  { git ls-files -z -- mlnb labextension/src labextension/style labextension/package.json \
      labextension/install.json jupyter-config pyproject.toml LICENSE README.md \
      | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1
}
DIGEST="$(sources_digest)"
if [[ ! -f "$DIST/.digest" || "$(cat "$DIST/.digest")" != "$DIGEST" ]] || ! ls "$DIST"/mlnb-*.whl >/dev/null 2>&1; then
  rm -rf "$DIST"
  echo "building the sdist and the wheel into dist/"
  "$PY" -m build --sdist --wheel --outdir "$DIST" . >"$ROOT/build.log" 2>&1 \
    || { tail -40 "$ROOT/build.log" >&2; exit 1; }
  printf '%s' "$DIGEST" >"$DIST/.digest"
fi
WHEEL="$(ls "$DIST"/mlnb-*.whl)"
SDIST="$(ls "$DIST"/mlnb-*.tar.gz)"

# The sdist installs without Node.js too: it carries the built labextension and the LICENSE.
MEMBERS="$(tar -tzf "$SDIST")"
for member in LICENSE mlnb/labextension/package.json mlnb/labextension/static/style.js; do
  grep -q "^mlnb-[^/]*/$member\$" <<<"$MEMBERS" || { echo "error: $SDIST lacks $member" >&2; exit 1; }
done

# A PATH with the venv and a few basic tools but no node, npm or jlpm.
NONODE="$VENV/.no-node-bin"
WHEEL_SUM="$(sha256sum "$WHEEL" | cut -d' ' -f1)"
no_node_path() {
  mkdir -p "$NONODE"
  for tool in sh bash env uname cat ls rm mkdir grep sed; do
    ln -sf "$(command -v "$tool")" "$NONODE/$tool"
  done
}
if [[ ! -f "$VENV/.wheel" || "$(cat "$VENV/.wheel")" != "$WHEEL_SUM" ]]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  no_node_path
  PATH="$VENV/bin:$NONODE" "$VENV/bin/python" -m pip install -q "$WHEEL[lab]" 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
  printf '%s' "$WHEEL_SUM" >"$VENV/.wheel"
fi
no_node_path
export PATH="$VENV/bin:$NONODE"
if command -v node >/dev/null 2>&1; then
  echo "error: node is on the check's PATH" >&2
  exit 1
fi
VERSION="$("$VENV/bin/python" -c "import mlnb; print(mlnb.__version__)")"
plain() { sed 's/\x1b\[[0-9;]*m//g'; }  # without colour codes
labext="$("$VENV/bin/jupyter" labextension list 2>&1 | plain)"
serverext="$("$VENV/bin/jupyter" server extension list 2>&1 | plain)"
grep -Eq "mlnb v$VERSION enabled.*OK" <<<"$labext" \
  || { echo "error: jupyter labextension list does not report mlnb OK:" >&2; echo "$labext" >&2; exit 1; }
grep -Eq "mlnb.server $VERSION.*OK" <<<"$serverext" \
  || { echo "error: jupyter server extension list does not report mlnb OK:" >&2; echo "$serverext" >&2; exit 1; }
echo "wheel ${WHEEL##*/} installed without node: labextension mlnb v$VERSION OK, server extension mlnb.server $VERSION OK"
