"""Which back-end a router uses, and its place in the app's lifecycle.

``server.shared_state: auto`` (the default) picks the cheapest back-end that
still shares with everyone who must see the states: the credential store's
PostgreSQL when ``auth.store`` is postgres (several instances), an SQLite file
in the run directory when one host runs several workers, and plain memory for
one worker on the file store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from suite.config import Config
from suite.logging import get_logger

from ._backend import SharedBackend
from ._local import LocalBackend
from ._postgres import PostgresBackend
from ._sqlite import FILE_NAME, HostBackend
from ._state import SharedState

__all__ = ["SHARED", "backend_for", "backend_name", "host_path", "shared_context"]

log = get_logger("router.shared")
SHARED = web.AppKey("shared", SharedState)


def backend_name(config: Config) -> str:
    """``local``, ``host`` or ``postgres``: ``server.shared_state``, ``auto`` resolved."""
    mode = config.server.shared_state
    if mode != "auto":
        return mode
    if config.auth.store == "postgres":
        return "postgres"
    return "host" if config.server.workers > 1 else "local"


def host_path(config: Config) -> Path:
    """The host back-end's file: in the run dir every worker of the suite shares
    (``CLIPROXY_RUN_DIR``; it survives restarts, unlike the metrics dir under it),
    else beside the metrics files, else in ``auth.dir`` (a worker run by hand)."""
    env = config.env
    if env.run_dir:
        return Path(env.run_dir) / FILE_NAME
    if env.prometheus_dir:
        return Path(env.prometheus_dir) / FILE_NAME
    return config.auth.dir / FILE_NAME


def backend_for(config: Config) -> SharedBackend:
    name = backend_name(config)
    if name == "postgres":
        return PostgresBackend(config.auth.dsn)
    if name == "host":
        return HostBackend(host_path(config))
    return LocalBackend()


async def shared_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: ``app[SHARED]`` opened and polling, closed on shutdown."""
    state = app[SHARED]
    await state.start()
    log.info("shared state", backend=state.backend.name, origin=state.origin)
    try:
        yield
    finally:
        await state.close()
