"""Config reloads, whoever asked (SIGHUP, a changed file, the console's button), and the
last one's result, so that the console can say what happened and name the bad key.

The reload itself is what SIGHUP always did: read and check the file, keep the
running config when it is broken, else swap in the new one (requests in flight
keep theirs). A config that sets no ``management.key`` gets the generated one
(``suite.management_key``), as at start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from router.state import RouterState
from suite.config import ConfigError, load_config
from suite.management_key import with_stored_key

__all__ = ["RELOADS", "ReloadResult", "Reloads", "reload_state"]


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """One reload: when, why, and either the problems by key or what now runs."""

    at: float
    trigger: str  # "signal" (SIGHUP), "file" (the file changed), "console"
    ok: bool
    errors: tuple[tuple[str, str], ...] = ()  # (key, message); key "" for the whole file
    warnings: tuple[str, ...] = ()
    rules: int = 0
    providers: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "trigger": self.trigger,
            "ok": self.ok,
            "errors": [{"key": k, "message": m} for k, m in self.errors],
            "warnings": list(self.warnings),
            "rules": self.rules,
            "providers": list(self.providers),
        }


class Reloads:
    """The latest reload of this process (None until the first one)."""

    def __init__(self) -> None:
        self.last: ReloadResult | None = None


RELOADS: web.AppKey[Reloads] = web.AppKey("cliproxy_reloads", Reloads)


def reload_state(state: RouterState, path: Path, trigger: str) -> ReloadResult:
    """Load ``path`` and swap it in; a broken file leaves the running config as it is."""
    now = time.time()
    try:
        config = with_stored_key(load_config(path))
    except ConfigError as exc:
        return ReloadResult(now, trigger, False, errors=((exc.key, str(exc)),))
    snap = state.reload(config)
    return ReloadResult(
        now,
        trigger,
        True,
        warnings=tuple(snap.warnings),
        rules=len(snap.table.rules),
        providers=tuple(sorted(snap.table.servable)),
    )
