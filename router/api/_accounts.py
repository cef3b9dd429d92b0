"""The subscriptions' plan usage for the management API.

``GET /v1/auth/credentials`` shows each stored sign-in's ``quota``: the
plan windows its upstream last reported (with several workers, the latest
any worker saw, from the views they publish). ``GET
/v1/auth/credentials/{name}/usage`` asks the ChatGPT backend now (``GET
/backend-api/wham/usage``) for a ``codex`` sign-in, and keeps the answer as
its quota.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from router.errors import BadRequest, NotFound, UpstreamConnectError, UpstreamError
from router.executors import CodexOAuthExecutor
from router.observability import OBSERVER, credential_views, merge_views, peer_views

from ._keys import STATE

__all__ = ["account_quotas", "plan_usage"]


async def account_quotas(app: web.Application) -> dict[str, dict[str, Any]]:
    """The latest quota per stored credential name (``provider/name`` ids folded)."""
    state = app[STATE]
    views = credential_views(state)
    peers_dir = app[OBSERVER].peers_dir if OBSERVER in app else None
    if peers_dir is not None:
        views = merge_views(views, await asyncio.to_thread(peer_views, peers_dir, time.time()))
    out: dict[str, dict[str, Any]] = {}
    for view in views:
        name = view.id.split("/", 1)[-1]
        seen = out.get(name)
        if view.quota and (seen is None or view.quota["seen_at"] > seen["seen_at"]):
            out[name] = view.quota
    return out


async def plan_usage(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    snap = request.app[STATE].current
    for prov_name, executor in snap.executors.items():
        if not isinstance(executor, CodexOAuthExecutor):
            continue
        for cred in snap.table.credentials(prov_name):
            if cred.auth is not None and cred.auth.name == name:
                try:
                    usage = await executor.plan_usage(cred)
                except UpstreamError as exc:
                    raise _upstream(exc) from None
                body = {"name": name, "credential": cred.id, **usage}
                return web.Response(body=orjson.dumps(body), content_type="application/json")
    if name.startswith("codex-"):
        raise NotFound(f"no codex-oauth provider serves a credential named {name!r}")
    raise BadRequest("plan usage is read from the ChatGPT backend: codex sign-ins only")


def _upstream(exc: UpstreamError) -> UpstreamError:
    """The upstream's refusal, as a 502 (a 401 here would read as a wrong management key)."""
    if exc.status in (401, 403):
        return UpstreamConnectError(f"{exc.message} (sign in again)")
    return exc
