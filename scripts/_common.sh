# Shared by the scripts in this directory (sourced, not run).
# Resolves the project root and its virtualenv, and exports CLIPROXY_CONFIG as
# an absolute path so every process of the suite reads the same file.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
if [[ ! -x "$PY" ]]; then
  echo "$(basename "$0"): $PY is missing: run 'make install' first" >&2
  exit 1
fi
CLIPROXY_CONFIG="$(realpath -m -- "${CLIPROXY_CONFIG:-$ROOT/config.yaml}")"
export CLIPROXY_CONFIG
cd "$ROOT"
