#!/usr/bin/env bash
# Start the suite under supervisord (daemon) and wait until it is healthy.
# Idempotent: if it is already running, says so and exits 0.
# Env: CLIPROXY_CONFIG (config file), CLIPROXY_RUN_DIR, CLIPROXY_LOG_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

if ! out="$("$PY" -m router check 2>&1)"; then
  echo "$out" >&2
  exit 2
fi
exec "$PY" -m ops.supervise start "$@"
