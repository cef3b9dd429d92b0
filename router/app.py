"""The application factory. Nothing here runs at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from router._server import RouterRunner, handler_args
from router.api import STATE, proxy_middleware, setup_routes
from router.keys import CLIENT_KEYS, ClientKeys, client_keys_context
from router.observability import OBSERVER, Observer, observer_context
from router.shared import SHARED, SharedState, backend_for, shared_context
from router.state import RouterState
from suite.config import Config

__all__ = ["RouterRunner", "create_app"]


def create_app(config: Config, *, watch: bool = False) -> web.Application:
    """Build the router app. ``watch`` adds SIGHUP / file-change reload (entry point only).

    Serve it with :class:`RouterRunner` (``python -m router`` and the tests do), which
    holds clients to ``server.limits``.
    """
    app = web.Application(
        middlewares=[proxy_middleware],
        client_max_size=config.server.max_body_bytes,
        # Header size and idle keep-alive bounds for any runner; RouterRunner adds the
        # rest of server.limits (head time and total size, connection count).
        handler_args=handler_args(config.server.limits),
    )
    app[STATE] = RouterState(config)
    # Several workers: the supervisord render points this at <run dir>/prometheus.
    app[OBSERVER] = Observer(config, app[STATE], config.env.prometheus_dir or None)
    # Credential states and counters every worker (and instance) sees: docs/shared-state.md.
    app[SHARED] = SharedState(backend_for(config))
    app[STATE].share(app[SHARED])  # rests and breakers learned here reach every worker
    # Managed client keys (docs/client-keys.md), reloaded when any worker changes them.
    app[CLIENT_KEYS] = ClientKeys(config)
    setup_routes(app)
    app.cleanup_ctx.append(shared_context)  # before the state: opened first, closed last
    app.cleanup_ctx.append(client_keys_context)
    app.cleanup_ctx.append(_close_state)
    app.cleanup_ctx.append(observer_context)  # torn down first: the last usage records
    if watch:
        from router._reload import watch_config

        app.cleanup_ctx.append(watch_config)
    return app


async def _close_state(app: web.Application) -> AsyncIterator[None]:
    await app[STATE].start()
    yield
    await app[STATE].close()
