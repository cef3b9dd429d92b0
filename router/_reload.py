"""Config reload on SIGHUP or when the file changes, without dropping requests.

A broken new config is logged and ignored: the running one stays.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from router.api import STATE
from router.console import RELOADS, reload_state
from suite.logging import get_logger
from suite.tasks import spawn

__all__ = ["reload_config", "watch_config"]

log = get_logger("router.reload")
_POLL_SECONDS = 2.0


def reload_config(app: web.Application, path: Path, trigger: str = "signal") -> bool:
    """Reload ``path`` (a broken file keeps the running config); the console shows the
    result (``router.console``: errors by key)."""
    result = reload_state(app[STATE], path, trigger)
    if RELOADS in app:
        app[RELOADS].last = result
    if not result.ok:
        error = "; ".join(message for _, message in result.errors)
        log.error("config reload failed; keeping the running config", error=error)
        return False
    log.info(
        "config reloaded",
        rules=result.rules,
        providers=list(result.providers),
        warnings=list(result.warnings),
    )
    return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


async def _poll(app: web.Application, path: Path) -> None:
    seen = _mtime(path)
    while True:
        await asyncio.sleep(_POLL_SECONDS)
        now = _mtime(path)
        if now and now != seen:
            seen = now
            reload_config(app, path, "file")


async def watch_config(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: SIGHUP handler plus a cheap mtime poll of the config file."""
    source = app[STATE].current.config.source
    if source is None:
        yield
        return
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reload_config, app, source)
    task = spawn(_poll(app, source), name="config-watch")
    try:
        yield
    finally:
        task.cancel()
        loop.remove_signal_handler(signal.SIGHUP)
