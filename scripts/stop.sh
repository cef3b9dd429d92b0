#!/usr/bin/env bash
# Stop the suite gracefully (supervisorctl shutdown) and wait until no process
# of it is left. Works even when config.yaml is broken.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

exec "$PY" -m ops.supervise stop "$@"
