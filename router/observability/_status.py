"""The document behind ``GET /status.json`` (and the page that draws it).

Programs come from supervisord over its XML-RPC socket (the same
``suite.status.collect`` as ``./scripts/status.sh``), found through
``CLIPROXY_RUN_DIR``, which the supervisord render sets for the router. A
router started by hand has no programs to show and says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from suite.programs import Manifest
from suite.status import collect

from ._credentials import credential_views
from ._observer import Observer
from ._peers import merge_views, peer_views
from ._usage_sql import UsageQuery
from ._usage_store import UsageStoreError

__all__ = ["StatusSource"]

_PROGRAMS_TTL = 3.0  # seconds a supervisord answer is reused (the page polls)
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
            data = await asyncio.to_thread(_collect, self.run_dir)
            self._programs = (time.monotonic(), data)
            return data


def _collect(run_dir: Path) -> dict[str, Any]:
    """``status.sh --json``'s document for the suite started from ``run_dir``."""
    try:
        manifest = Manifest.from_json(json.loads((run_dir / "suite.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"running": False, "problem": f"no suite manifest in {run_dir}: {exc}"}
    return collect(manifest, rpc_timeout=2.0).to_json()
