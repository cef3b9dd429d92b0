"""``/v1/keys``: managed client keys (docs/client-keys.md), behind the management key.

    GET    /v1/keys          {"keys": [view, ...]}  server.api_keys first (source "config")
    POST   /v1/keys          {name, models?, expires_at?, requests_per_minute?,
                              tokens_per_day?, monthly_token_budget?}
                             → 201 {...view, "key": "cpa-…"}: the only time the key is shown
    GET    /v1/keys/{ref}    view + "usage" (this minute's requests, today's and this
                             month's tokens, for the limits the key has)
    PATCH  /v1/keys/{ref}    any of POST's fields; null removes a limit or the expiry
    DELETE /v1/keys/{ref}    revoke (kept, listed as revoked; its holder gets 401)

``ref`` is a key's id or its name. A view never carries the key or its hash:
``prefix`` (``cpa-AbCd``) tells keys apart. Changes reach every worker and router
within about a second.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from router.errors import BadRequest, NotFound
from router.keys import (
    CLIENT_KEYS,
    InvalidKeyField,
    KeyExists,
    KeyStoreError,
    config_view,
    key_usage,
)
from router.shared import SHARED

from ._keys import STATE
from ._management import Conflict, Unavailable, management_json, require_management
from ._receive import receive

__all__ = ["setup_keys"]

_MAX_BODY = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _fields(request: web.Request) -> dict[str, Any]:
    raw = await receive(request, _MAX_BODY)
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _ref(request: web.Request) -> str:
    return request.match_info["ref"]


def _missing(ref: str) -> NotFound:
    return NotFound(f"no client key with id or name {ref[:80]!r}")


async def _guarded(request: web.Request, action: Handler) -> web.StreamResponse:
    require_management(request)
    try:
        return await action(request)
    except InvalidKeyField as exc:
        raise BadRequest(str(exc), param=exc.field) from None
    except KeyExists as exc:
        raise Conflict(str(exc), param="name") from None
    except KeyStoreError as exc:
        raise Unavailable(f"client key store unavailable: {exc}") from None


async def _list(request: web.Request) -> web.StreamResponse:
    keys = request.app[CLIENT_KEYS]
    await keys.refresh()
    now = time.time()
    config_keys = request.app[STATE].current.client_keys
    views = [config_view(k) for k in config_keys] + [k.view(now) for k in keys.keys]
    return management_json({"keys": views})


async def _create(request: web.Request) -> web.StreamResponse:
    key, secret = await request.app[CLIENT_KEYS].create(await _fields(request))
    return management_json({**key.view(time.time()), "key": secret}, 201)


async def _show(request: web.Request) -> web.StreamResponse:
    key = await request.app[CLIENT_KEYS].get(_ref(request))
    if key is None:
        raise _missing(_ref(request))
    usage = await key_usage(request.app[SHARED], key)
    return management_json({**key.view(time.time()), "usage": usage})


async def _patch(request: web.Request) -> web.StreamResponse:
    fields = await _fields(request)
    key = await request.app[CLIENT_KEYS].update(_ref(request), fields)
    if key is None:
        raise _missing(_ref(request))
    return management_json(key.view(time.time()))


async def _revoke(request: web.Request) -> web.StreamResponse:
    key = await request.app[CLIENT_KEYS].revoke(_ref(request))
    if key is None:
        raise _missing(_ref(request))
    return management_json(key.view(time.time()))


def _route(action: Handler) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _guarded(request, action)

    return handler


def setup_keys(app: web.Application) -> None:
    """Register the routes (``setup_routes`` calls this)."""
    r = app.router
    r.add_get("/v1/keys", _route(_list))
    r.add_post("/v1/keys", _route(_create))
    r.add_get("/v1/keys/{ref}", _route(_show))
    r.add_patch("/v1/keys/{ref}", _route(_patch))
    r.add_delete("/v1/keys/{ref}", _route(_revoke))
