"""The console: its page (``GET /console``) and the management endpoints only it needs.

The page and its files carry no data (loopback callers, or anyone with
``management.allow_remote``, like ``/status``); everything else needs the
management key, sent in a header by the page (never a cookie, so another
site cannot make a browser send it: no CSRF). Everything else the console
does goes through the existing management API (``/v1/auth/*``,
``/v1/usage``, ``/status.json``, and ``/v1/keys`` once it exists).

    GET  /v1/console/info      the router, the key's origin, client keys, what the API offers
    GET  /v1/console/config    the running config: every value, its origin, secrets masked
    POST /v1/console/reload    reload config.yaml now (SIGHUP), the problems by key
    GET  /v1/console/logs      ?n=&q=&kind=access|errors: the last lines of this process
    POST /v1/auth/credentials  {filename, content}: store a CLIProxyAPI token file
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from router.auth import InvalidName, StoreError
from router.console import (
    MAX_TOKEN_FILE_BYTES,
    RELOADS,
    Reloads,
    TokenFileError,
    config_entries,
    parse_token_file,
    read_unexpanded,
    reload_state,
)
from router.errors import BadRequest
from suite.log_ring import LOG_RING

from ._keys import STATE
from ._management import Conflict, Unavailable, management_json, require_management
from ._observability import page_files
from ._receive import receive

__all__ = ["ASSETS", "setup"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ASSETS = {
    "console.html": "text/html",
    "console.css": "text/css",
    "app.js": "text/javascript",
    "ui.js": "text/javascript",
    "overview.js": "text/javascript",
    "accounts.js": "text/javascript",
    "keys.js": "text/javascript",
    "usage.js": "text/javascript",
    "config.js": "text/javascript",
    "logs.js": "text/javascript",
}
_LOG_LINES = 200  # default n
_MAX_LOG_LINES = 2000
# Routes other parts of the management API add (the page uses them when present).
_FEATURES = {
    "reset": ("POST", "/v1/auth/credentials/{", "/reset"),
    "keys": ("GET", "/v1/keys", ""),
}


def _managed(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        require_management(request)
        return await handler(request)

    return wrapped


# -- info -------------------------------------------------------------------------


def _features(app: web.Application) -> dict[str, bool]:
    found = dict.fromkeys(_FEATURES, False)
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        for name, (method, start, end) in _FEATURES.items():
            if route.method == method and path.startswith(start) and path.endswith(end):
                if end or path == start:
                    found[name] = True
    return found


async def info(request: web.Request) -> web.StreamResponse:
    snap = request.app[STATE].current
    config = snap.config
    last = request.app[RELOADS].last
    return management_json(
        {
            "pid": os.getpid(),
            "now": time.time(),
            "config_source": str(config.source) if config.source else None,
            "config_loaded_at": snap.loaded_at,
            "last_reload": last.to_json() if last else None,
            "management_key": "config" if _file_key(request) else "generated",
            "allow_remote": config.management.allow_remote,
            "api_keys": len(config.server.api_keys),
            "features": _features(request.app),
            "workers": config.server.workers,
        }
    )


def _file_key(request: web.Request) -> bool:
    """Whether the loaded file set the management key (else it is the generated one)."""
    raw = request.app[STATE].current.config.raw.get("management")
    return isinstance(raw, dict) and bool(raw.get("key"))


# -- config and reload -------------------------------------------------------------


async def config_view(request: web.Request) -> web.StreamResponse:
    snap = request.app[STATE].current
    config = snap.config
    unexpanded, mtime = await asyncio.to_thread(read_unexpanded, config.source)
    last = request.app[RELOADS].last
    return management_json(
        {
            "source": str(config.source) if config.source else None,
            "loaded_at": snap.loaded_at,
            "changed_since_load": bool(mtime and mtime > snap.loaded_at),
            "entries": config_entries(config, unexpanded, file_key_empty=not _file_key(request)),
            "warnings": list(snap.warnings),
            "last_reload": last.to_json() if last else None,
        }
    )


async def reload(request: web.Request) -> web.StreamResponse:
    source = request.app[STATE].current.config.source
    if source is None:
        raise Conflict("this router was started without a config file: nothing to reload")
    # As SIGHUP does, on the event loop: the new snapshot is swapped in between requests.
    result = reload_state(request.app[STATE], source, "console")
    request.app[RELOADS].last = result
    return management_json(result.to_json(), 200 if result.ok else 400)


# -- logs -----------------------------------------------------------------------------


def _lines(ring: Any, query: str, n: int) -> list[Any]:
    """The newest ``n`` lines containing ``query`` (a request id, any text), newest first."""
    needle = query.encode()
    out: list[Any] = []
    for line in reversed(list(ring)):
        if needle and needle not in line:
            continue
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
        if len(out) >= n:
            break
    return out


def _problem(line: dict[str, Any]) -> bool:
    status = line.get("status")
    return bool(line.get("error")) or (isinstance(status, int) and status >= 400)


async def logs(request: web.Request) -> web.StreamResponse:
    q = request.query
    try:
        n = min(_MAX_LOG_LINES, max(1, int(q.get("n", _LOG_LINES))))
    except ValueError:
        raise BadRequest("n: a number of lines", param="n") from None
    kind = q.get("kind", "all")
    if kind not in ("all", "access", "errors"):
        raise BadRequest("kind: all, access or errors", param="kind")
    query = q.get("q", "").strip()[:200]
    access = _lines(LOG_RING.access, query, _MAX_LOG_LINES if kind == "errors" else n)
    if kind == "errors":
        access = [line for line in access if _problem(line)][:n]
    problems = [] if kind == "access" else _lines(LOG_RING.problems, query, n)
    return management_json(
        {
            "pid": os.getpid(),
            "query": query,
            "access": access,
            "problems": problems,
            "kept": {"access": LOG_RING.access.maxlen, "problems": LOG_RING.problems.maxlen},
        }
    )


# -- token file upload ------------------------------------------------------------------


async def upload_token_file(request: web.Request) -> web.StreamResponse:
    raw = await receive(
        request,
        min(MAX_TOKEN_FILE_BYTES * 2, request.app[STATE].current.config.server.max_body_bytes),
    )
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object: {filename, content}")
    filename = body.get("filename") or ""
    if not isinstance(filename, str):
        raise BadRequest("'filename' must be a string", param="filename")
    if "content" not in body:
        raise BadRequest("'content' is required (the token file's text)", param="content")
    try:
        record = parse_token_file(filename, body["content"])
    except (TokenFileError, InvalidName) as exc:
        raise BadRequest(str(exc), param="content") from None
    auth = request.app[STATE].auth
    try:
        saved = await auth.save(record)
    except StoreError as exc:
        raise Unavailable(f"credential store unavailable: {exc}") from None
    return management_json({**saved.summary(), "saved_to": auth.store.describe(saved.name)}, 201)


# -- the page ------------------------------------------------------------------------------


def setup(app: web.Application) -> None:
    """Register the routes; read the page's files once."""
    app[RELOADS] = Reloads()
    pages = page_files("router.console", ASSETS)
    r = app.router
    r.add_get("/console", pages["console.html"])
    for name in ASSETS:
        if name != "console.html":
            r.add_get(f"/console/{name}", pages[name])
    r.add_get("/v1/console/info", _managed(info))
    r.add_get("/v1/console/config", _managed(config_view))
    r.add_post("/v1/console/reload", _managed(reload))
    r.add_get("/v1/console/logs", _managed(logs))
    r.add_post("/v1/auth/credentials", _managed(upload_token_file))
