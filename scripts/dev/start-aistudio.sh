#!/usr/bin/env bash
# Run the aistudio browser-pool service in the foreground, without supervisord
# (Ctrl-C stops it). It connects to the router's /v1/ws, so start the router too.
# `scripts/dev/start-aistudio.sh login --profile NAME` signs a profile in
# (a visible browser: needs a display, e.g. xvfb-run + VNC, or ssh -X).
# Logs go to stdout as JSON lines. Env: CLIPROXY_CONFIG picks the config file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../_common.sh"

exec "$PY" -m aistudio "$@"
