"""The document behind ``GET /status.json`` (and the page that draws it).

Programs are what ``./scripts/status.sh --json`` says (supervisord's view over
its XML-RPC socket, each health URL, RSS/CPU): the router runs that command,
``python -m ops.supervise status --json``, for the suite of ``CLIPROXY_RUN_DIR``,
which supervisord.conf sets for the router. It shares the command's documented
output, not the operations code: no service imports ``ops``
(``tests/test_layers.py``). A router started by hand has no programs to show
and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ._credentials import credential_views
from ._observer import Observer
from ._peers import merge_views, peer_views
from ._usage_sql import UsageQuery
from ._usage_store import UsageStoreError

__all__ = ["StatusSource"]

_PROGRAMS_TTL = 3.0  # seconds a supervisord answer is reused (the page polls)
# The command probes each health URL (health.timeout_seconds) and samples CPU for 0.1 s.
_STATUS_TIMEOUT = 15.0
_HOURS = 24
_ERRORS = 20


class StatusSource:
    """Builds the status document; caches the (slow, blocking) supervisord part briefly."""

    def __init__(self, obs: Observer, run_dir: Path | None) -> None:
        self.obs = obs
        self.run_dir = run_dir
        self._programs: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        state = self.obs.state
        snap = state.current
        views = credential_views(state)
        if self.obs.peers_dir is not None:  # several workers: each one's cooldowns count
            peers = await asyncio.to_thread(peer_views, self.obs.peers_dir, time.time())
            views = merge_views(views, peers)
        providers = []
        for name, prov in snap.config.providers.items():
            providers.append(
                {
                    "name": name,
                    "kind": prov.kind,
                    "enabled": prov.enabled,
                    "servable": name in snap.table.servable,
                    "models": list(prov.models),
                    "credentials": [v.to_json() for v in views if v.provider == name],
                }
            )
        now = time.time()
        usage, errors, problem = await self._usage(now)
        capture = self.obs.capture
        if capture is not None and errors:  # the page links to what was captured
            ids = [str(e.get("request_id")) for e in errors]
            kept = await asyncio.to_thread(capture.existing, ids)
            for e in errors:
                e["capture"] = e.get("request_id") in kept
        return {
            "now": now,
            "router": {
                "pid": os.getpid(),
                "started_at": self.obs.started_at,
                "config_loaded_at": snap.loaded_at,
                "warnings": list(snap.warnings),
            },
            "supervisor": await self._supervisor(),
            "providers": providers,
            "relay": state.relay.describe(),
            "usage": {"hours": usage, "problem": problem},
            "errors": errors,
        }

    async def _usage(self, now: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        recorder = self.obs.usage
        if recorder is None:
            return [], [], "usage recording is off (usage.enabled: false)"
        first = (int(now // 3600) - _HOURS + 1) * 3600
        try:
            rows = await recorder.totals(UsageQuery(first, now + 1, ("hour",)))
            errors = await recorder.errors(_ERRORS)
        except UsageStoreError as exc:
            return [], [], str(exc)
        by_hour = {int(str(r["hour"])): r for r in rows}
        hours = []
        for i in range(_HOURS):
            t = first + i * 3600
            r = by_hour.get(t, {})
            hours.append(
                {
                    "t": t,
                    "requests": r.get("requests", 0),
                    "errors": r.get("errors", 0),
                    "tokens_in": r.get("tokens_in", 0),
                    "tokens_out": r.get("tokens_out", 0),
                }
            )
        return hours, errors, ""

    async def _supervisor(self) -> dict[str, Any] | None:
        if self.run_dir is None:
            return None
        async with self._lock:
            cached = self._programs
            if cached is not None and time.monotonic() - cached[0] < _PROGRAMS_TTL:
                return cached[1]
            data = await _collect(self.run_dir)
            self._programs = (time.monotonic(), data)
            return data


async def _collect(run_dir: Path) -> dict[str, Any]:
    """``status.sh --json``'s document for the suite started from ``run_dir``."""
    argv = [sys.executable, "-m", "ops.supervise", "--run-dir", str(run_dir), "status", "--json"]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return {"running": False, "problem": f"cannot run the status command: {exc}"}
    try:
        out, err = await asyncio.wait_for(proc.communicate(), _STATUS_TIMEOUT)
    except TimeoutError:
        return {"running": False, "problem": f"no status within {_STATUS_TIMEOUT:g} s"}
    finally:
        if proc.returncode is None:  # timed out, or the request was cancelled
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    try:
        data = json.loads(out)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        why = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return {"running": False, "problem": f"status command failed: {why[0]}"}
    return data
