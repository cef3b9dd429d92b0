"""Reading and checking a client's JSON body, with errors that name the field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from router.errors import BadRequest

from ._receive import receive

__all__ = ["MAX_DEPTH", "expect", "read_json"]

#: How deeply a client body may nest objects and arrays (the body itself is level 1).
#: Real requests stay far below it (a tool schema rarely passes 15); the limit keeps
#: every body re-serializable (orjson writes at most 255 levels) and every recursive
#: walk over it shallow. Documented in docs/translation.md.
MAX_DEPTH = 128


async def read_json(request: web.Request, limit: int) -> tuple[dict[str, Any], bytes]:
    """The body as a JSON object and as the raw bytes it came in."""
    raw = await receive(request, limit)  # size, time, a client gone mid-body
    if not raw:
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            f"request body is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    # Brackets bound the depth from above: most bodies skip the walk.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        trail = _too_deep(body, MAX_DEPTH)
        if trail is not None:
            keys = _keys(trail)
            raise BadRequest(
                f"'{_path(keys)}' nests deeper than {MAX_DEPTH} levels of objects and arrays",
                param=str(keys[0]),
            )
    return body, raw


# A path as a linked list, innermost key first: (key, (parent key, (...)))
_Trail = tuple[str | int, "_Trail | None"]


def _too_deep(body: dict[str, Any], limit: int) -> _Trail | None:
    """Where ``body`` first goes deeper than ``limit`` levels; None when it does not.

    Iterative (a recursive walk would be what the limit protects against) and
    visiting containers only: about a tenth of the time parsing took."""
    stack: list[tuple[object, int, _Trail | None]] = [(body, 1, None)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth, trail = pop()
        if depth > limit:
            return trail
        items: Iterable[tuple[str | int, object]]
        if type(node) is dict:
            items = node.items()
        elif type(node) is list:
            items = enumerate(node)
        else:
            continue
        for key, value in items:
            if type(value) is dict or type(value) is list:
                push((value, depth + 1, (key, trail)))
    return None


def _keys(trail: _Trail) -> list[str | int]:
    keys: list[str | int] = []
    node: _Trail | None = trail
    while node is not None:
        keys.append(node[0])
        node = node[1]
    keys.reverse()
    return keys


def _path(keys: list[str | int], shown: int = 12) -> str:
    """``tools[0].function.parameters…`` (the outermost ``shown`` steps)."""
    out = ""
    for key in keys[:shown]:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            name = key if len(key) <= 40 else key[:40] + "…"
            out += f".{name}" if out else name
    return out + ("…" if len(keys) > shown else "")


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
