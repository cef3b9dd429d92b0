"""The relay endpoints: ``GET /v1/ws`` (services connect) and the aistudio login.

``/v1/ws`` authenticates with ``services.token`` (``Authorization: Bearer`` or
``?auth_token=``, for browsers that cannot set headers), not with client keys.
``POST /v1/auth/aistudio/login {profile}`` is a management call, guarded like
every ``/v1/auth/*`` route (``_management.require_management``).
"""

from __future__ import annotations

import re

import orjson
from aiohttp import web

from router.errors import BadRequest

from ._keys import STATE
from ._management import require_management
from ._middleware import is_loopback

__all__ = ["aistudio_login", "relay_services", "relay_socket"]

_PROFILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # fullmatch: no trailing newline
_LOGIN_TIMEOUT = 300.0


async def relay_socket(request: web.Request) -> web.StreamResponse:
    hub = request.app[STATE].relay
    hub.authorize(request, is_loopback(request.remote))
    return await hub.serve(request)


async def aistudio_login(request: web.Request) -> web.StreamResponse:
    """Send ``auth_request`` to a connected service and answer its ``auth_result``."""
    require_management(request)
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        raise BadRequest('body must be JSON: {"profile": NAME}') from None
    profile = body.get("profile", "default") if isinstance(body, dict) else None
    if not isinstance(profile, str) or not _PROFILE.fullmatch(profile):
        raise BadRequest(
            "profile: letters, digits, '.', '_', '@' or '-' (at most 64)", param="profile"
        )
    timeout = body.get("timeout_seconds", _LOGIN_TIMEOUT)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise BadRequest("timeout_seconds: a positive number", param="timeout_seconds")
    result = await request.app[STATE].relay.login(profile, min(float(timeout), 3600.0))
    status = 200 if result.ok else 502
    return web.Response(
        status=status, body=orjson.dumps(result.to_json()), content_type="application/json"
    )


async def relay_services(request: web.Request) -> web.StreamResponse:
    """``GET /v1/auth/aistudio/services``: the connected relay services and their profiles."""
    require_management(request)
    body = {"services": request.app[STATE].relay.describe()}
    return web.Response(body=orjson.dumps(body), content_type="application/json")
