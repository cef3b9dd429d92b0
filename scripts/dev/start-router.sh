#!/usr/bin/env bash
# Run the router in the foreground, without supervisord (Ctrl-C stops it).
# Logs go to stdout as JSON lines. Env: CLIPROXY_CONFIG picks the config file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../_common.sh"

exec "$PY" -m router "$@"
