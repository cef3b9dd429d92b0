"""``POST /v1/auth/credentials/{id}/reset``: a credential back in rotation now.

Clears its cooldown (the account's and every model's), its breaker and its
strikes, in this worker and, through the shared state, in every worker and
instance (docs/routing.md). ``id`` is a routed credential's id as ``/status``
shows it (``provider/key1-…``), or a stored sign-in's name, which resets it in
every provider that uses it. Plan usage is kept: it is what the upstream said.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from router.errors import NotFound, ProxyError
from router.shared import SHARED, SharedStateError

from ._keys import STATE

__all__ = ["reset_credential"]


async def reset_credential(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    state = request.app[STATE]
    creds = [c for c in state.pool.all() if c.id == name or c.id.endswith(f"/{name}")]
    if not creds:
        raise NotFound(f"no credential named {name!r}")
    shared = request.app[SHARED]
    for cred in creds:
        cred.reset()
        try:
            await shared.clear(cred.id)
        except SharedStateError as exc:
            err = ProxyError(f"reset here, but the shared state is unreachable: {exc}")
            err.status = 503
            raise err from None
    body = orjson.dumps({"reset": [c.id for c in creds]})
    return web.Response(body=body, content_type="application/json")
