"""Reading and checking a client's JSON body, with errors that name the field."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from router.errors import BadRequest

from ._depth import check_depth
from ._receive import receive

__all__ = ["expect", "parse_json", "read_json", "read_raw"]


async def read_json(request: web.Request, limit: int) -> tuple[dict[str, Any], bytes]:
    """The body as a JSON object and as the raw bytes it came in."""
    raw = await read_raw(request, limit)
    return parse_json(raw), raw


async def read_raw(request: web.Request, limit: int) -> bytes:
    """The body's bytes, not yet checked (``fast_head``, else :func:`parse_json`)."""
    raw = await receive(request, limit)  # size, time, a client gone mid-body
    if not raw:
        raise BadRequest("request body is empty; expected a JSON object")
    return raw


def parse_json(raw: bytes) -> dict[str, Any]:
    """``raw`` parsed whole and checked (a JSON object, nesting): BadRequest naming why not."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"request body is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    check_depth(body, raw)  # every body parsed whole: docs/translation.md
    return body


_TYPES: dict[type, str] = {
    str: "a string",
    list: "an array",
    dict: "an object",
    bool: "a boolean",
    int: "an integer",
}


def expect(
    body: dict[str, Any], field: str, kind: type, *, required: bool = True, nonempty: bool = False
) -> Any:
    """``body[field]`` if it has the right JSON type; BadRequest naming the field otherwise."""
    value = body.get(field)
    if value is None:
        if required:
            raise BadRequest(f"'{field}' is required", param=field)
        return None
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        raise BadRequest(f"'{field}' must be {_TYPES.get(kind, kind.__name__)}", param=field)
    if nonempty and not value:
        raise BadRequest(f"'{field}' must not be empty", param=field)
    return value
