#!/usr/bin/env bash
# State of every program: supervisord state, pid, uptime, restarts, RSS, CPU,
# health and its latency. --json for machines.
# Exit 0 healthy, 1 something unhealthy or not running, 3 the suite is not running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

exec "$PY" -m ops.supervise status "$@"
