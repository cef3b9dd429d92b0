"""The management API for stored sign-ins, under ``/v1/auth/``.

Every call needs ``management.key`` (``Authorization: Bearer`` or
``X-Management-Key``, compared in constant time) and, unless
``management.allow_remote``, a loopback caller (others get 403). Wrong keys
are limited per address and for all addresses together (429); the right key
always passes (``_guard.py``). Answers never carry a token, cookie or code.

    GET    /v1/auth/credentials                  list (provider, account, expiry, state, quota)
    GET    /v1/auth/credentials/{name}/usage     a codex sign-in's plan usage, asked now
    DELETE /v1/auth/credentials/{name}
    POST   /v1/auth/credentials/{name}/disable   | /enable
    POST   /v1/auth/credentials/{id}/reset       cooldowns and breaker cleared (every worker)
    POST   /v1/auth/credentials/{name}/proxy {proxy_url}   the account's own proxy ("": none)
    POST   /v1/auth/login        {provider: claude|codex, mode: callback|paste, proxy_url?}
    GET    /v1/auth/login/{state}                status
    POST   /v1/auth/login/{state}/code {code}    CODE#STATE or the callback URL
    POST   /v1/auth/ctonew       {cookie, proxy_url?}   validated at once
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from router.auth import InvalidName, LoginError, StoreError
from router.errors import BadRequest, ErrorKind, Forbidden, NotFound, ProxyError, Unauthorized
from suite.proxies import InvalidProxy, check_proxy_setting

from ._accounts import account_quotas, plan_usage
from ._guard import GUARD, Banned, ManagementGuard, key_matches
from ._keys import STATE
from ._middleware import is_loopback
from ._receive import receive
from ._reset import reset_credential

__all__ = [
    "GUARD",
    "Conflict",
    "ManagementGuard",
    "Unavailable",
    "management_json",
    "require_management",
    "setup",
]


class Unavailable(ProxyError):
    """A store behind the management API cannot be reached (503)."""

    status = 503
    kind = ErrorKind.OVERLOADED


class Conflict(ProxyError):
    """The change clashes with what is there (409): a name taken, no file to save to."""

    status = 409
    kind = ErrorKind.INVALID_REQUEST


def management_json(body: Any, status: int = 200) -> web.Response:
    """An answer of the management API: JSON, never cached (it may name accounts)."""
    return web.Response(
        body=orjson.dumps(body, default=str),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _presented(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-Management-Key", "")


def require_management(request: web.Request) -> None:
    """Raise unless a local (or allowed remote) caller presents the management key."""
    mgmt = request.app[STATE].current.config.management
    address = request.remote or ""
    if not mgmt.allow_remote and not is_loopback(address):
        raise Forbidden("the management API answers local callers only (management.allow_remote)")
    if not mgmt.key:
        raise Forbidden("the management API is off: set management.key")
    guard = request.app[GUARD]
    presented = _presented(request)
    if presented and key_matches(presented, mgmt.key):  # first: no limit applies to it
        guard.succeeded(address)
        return
    now = time.monotonic()
    wait, why = guard.refused_for(address, now)
    if wait:
        raise Banned(wait, why)
    guard.failed(address, now)
    raise Unauthorized("missing or wrong management key")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _managed(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        require_management(request)
        try:
            return await handler(request)
        except (LoginError, InvalidName) as exc:
            raise BadRequest(str(exc)) from None
        except StoreError as exc:
            raise Unavailable(f"credential store unavailable: {exc}") from None

    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await receive(request, request.app[STATE].current.config.server.max_body_bytes)
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _text(body: dict[str, Any], *names: str) -> str:
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value.strip():
            return value
    raise BadRequest(f"'{names[0]}' is required", param=names[0])


# -- handlers -----------------------------------------------------------------


async def list_credentials(request: web.Request) -> web.StreamResponse:
    auth = request.app[STATE].auth
    await auth.ensure_open(background=auth.needed)
    items, quotas = auth.summaries(), await account_quotas(request.app)
    return management_json({"credentials": [{**i, "quota": quotas.get(i["name"])} for i in items]})


async def delete_credential(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not await request.app[STATE].auth.delete(name):
        raise NotFound(f"no credential named {name!r}")
    return management_json({"deleted": name})


async def _toggle(request: web.Request, disabled: bool) -> web.StreamResponse:
    name = request.match_info["name"]
    rec = await request.app[STATE].auth.set_disabled(name, disabled)
    if rec is None:
        raise NotFound(f"no credential named {name!r}")
    return management_json(rec.summary())


async def disable_credential(request: web.Request) -> web.StreamResponse:
    return await _toggle(request, True)


async def enable_credential(request: web.Request) -> web.StreamResponse:
    return await _toggle(request, False)


async def start_login(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    provider = _text(body, "provider")
    if provider not in ("claude", "codex"):
        raise BadRequest("provider must be 'claude' or 'codex' (cto.new: POST /v1/auth/ctonew)")
    mode = body.get("mode", "callback")
    if mode not in ("callback", "paste"):
        raise BadRequest("mode must be 'callback' or 'paste'", param="mode")
    state = request.app[STATE]
    await state.auth.ensure_open(background=state.auth.needed)
    flow = await state.logins.start(
        provider, "paste" if mode == "paste" else "callback", proxy_url=_proxy_url(body)
    )
    return management_json(flow.view(), 201)


async def login_status(request: web.Request) -> web.StreamResponse:
    flow = request.app[STATE].logins.get(request.match_info["state"])
    if flow is None:
        raise NotFound("no login in progress with this state (finished logins expire)")
    return management_json(flow.view())


async def submit_code(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    pasted = _text(body, "code", "url")
    flow = await request.app[STATE].logins.submit(pasted, request.match_info["state"])
    return management_json(flow.view(), 200 if flow.status == "done" else 400)


async def upload_ctonew(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    pasted = _text(body, "cookie")
    state = request.app[STATE]
    rec = await state.logins.ctonew(pasted, _proxy_url(body))
    return management_json({**rec.summary(), "saved_to": state.auth.store.describe(rec.name)}, 201)


def _proxy_url(body: dict[str, Any]) -> str:
    """An optional ``proxy_url`` (checked: a bad one is a 400 that never shows its password)."""
    value = body.get("proxy_url", "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest("'proxy_url' must be a string", param="proxy_url")
    try:
        return check_proxy_setting(value)
    except InvalidProxy as exc:
        raise BadRequest(f"proxy_url: {exc}", param="proxy_url") from None


async def set_proxy(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    if "proxy_url" not in body:
        raise BadRequest("'proxy_url' is required (\"\" removes it)", param="proxy_url")
    name = request.match_info["name"]
    rec = await request.app[STATE].auth.set_proxy(name, _proxy_url(body))
    if rec is None:
        raise NotFound(f"no credential named {name!r}")
    return management_json(rec.summary())


def setup(app: web.Application) -> None:
    """Register the routes (``setup_routes`` calls this)."""
    app[GUARD] = ManagementGuard()
    r = app.router
    r.add_get("/v1/auth/credentials", _managed(list_credentials))
    r.add_get("/v1/auth/credentials/{name}/usage", _managed(plan_usage))
    r.add_delete("/v1/auth/credentials/{name}", _managed(delete_credential))
    r.add_post("/v1/auth/credentials/{name}/disable", _managed(disable_credential))
    r.add_post("/v1/auth/credentials/{name}/enable", _managed(enable_credential))
    r.add_post("/v1/auth/credentials/{name}/proxy", _managed(set_proxy))
    r.add_post("/v1/auth/credentials/{name:.+}/reset", _managed(reset_credential))
    r.add_post("/v1/auth/login", _managed(start_login))
    r.add_get("/v1/auth/login/{state}", _managed(login_status))
    r.add_post("/v1/auth/login/{state}/code", _managed(submit_code))
    r.add_post("/v1/auth/ctonew", _managed(upload_ctonew))
