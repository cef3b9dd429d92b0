"""How deeply a client body may nest objects and arrays, checked once per body.

The limit keeps every body re-serializable (a rule with a ``model`` alias
writes the client's body again; orjson writes at most 254 levels, and a
translation adds a few) and every walk over it shallow. Real requests stay
far below it: Claude Code's deepest tool schema is under 15 levels.
Documented in docs/translation.md.

The check walks the body's containers (no recursion, nothing allocated but the
stack of containers to visit): on agent bodies, a few thousand containers
around long strings, it costs what an encode costs in a loop and far less
under load, where the encode's buffer of the whole body (strings and all) had
to be mapped fresh on each request (docs/performance.md). Past 20,000
containers the encoder takes over: orjson refuses to write more than its own
fixed number of levels, so the body wrapped in (that number minus the limit)
arrays fails to encode exactly when the body is deeper than the limit, and a
30 MB body of tiny objects costs about 0.1 s that way, less than a walk. A
body too short to nest that deep (two bytes a level) skips the check, and so
does a small one with fewer brackets than the limit.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from router.errors import BadRequest

__all__ = ["MAX_DEPTH", "check_depth"]

#: Levels of objects and arrays a client body may have (the body itself is level 1).
MAX_DEPTH = 128
_SHOWN = 8  # path steps named in the error (each step costs one encode of the subtree)
# Up to this size a body's brackets are counted first (two passes at about 2 GB/s, a few
# microseconds); past it the count costs more than the encode it would spare.
_COUNTED = 4096
# Containers walked before the encode takes over: a walk allocates nothing but is slower
# per container than the encode, which a body of millions of tiny objects would show.
_WALKED = 20_000


def check_depth(body: dict[str, Any], raw: bytes) -> None:
    """BadRequest naming where ``body`` (parsed from ``raw``) nests too deep."""
    size = len(raw)
    if size <= 2 * MAX_DEPTH:
        return  # too short to nest that deep: two bytes a level
    if size <= _COUNTED and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        return  # a small body: counting its brackets costs less than the encode
    if _shallow(body, MAX_DEPTH):
        return
    path: list[str | int] = []
    node: Any = body
    room = MAX_DEPTH
    while len(path) < _SHOWN:
        room -= 1  # what the children of ``node`` may still use
        items = node.items() if isinstance(node, dict) else enumerate(node)
        deep = next(
            ((k, v) for k, v in items if isinstance(v, dict | list) and not _fits(v, room)),
            None,
        )
        if deep is None:
            break
        path.append(deep[0])
        node = deep[1]
    where = _render(path) + ("…" if len(path) == _SHOWN else "")
    raise BadRequest(
        f"'{where}' nests deeper than {MAX_DEPTH} levels of objects and arrays",
        param=str(path[0]) if path else None,
    )


def _shallow(body: dict[str, Any], levels: int) -> bool:
    """Whether ``body`` nests at most ``levels`` deep: a walk over its containers while
    they are few (agent bodies have a few thousand), the encode past that."""
    todo: list[tuple[Any, int]] = [(body, 1)]
    pop, push = todo.pop, todo.append
    budget = _WALKED
    while todo:
        node, depth = pop()
        for item in node.values() if type(node) is dict else node:
            kind = type(item)
            if kind is dict or kind is list:
                if depth == levels:
                    return False
                push((item, depth + 1))
        budget -= 1
        if not budget:
            return _fits(body, levels)
    return True


def _fits(value: Any, levels: int) -> bool:
    """Whether ``value`` nests at most ``levels`` deep (0: not a container at all)."""
    wrapped = value
    for _ in range(_encoder_depth() - levels):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        return False
    return True


@functools.cache
def _encoder_depth() -> int:
    """The most levels orjson writes (254 in orjson 3), found once by bisection."""
    lo, hi = 1, 4096
    while lo < hi:
        mid = (lo + hi + 1) // 2
        nested: Any = None
        for _ in range(mid):
            nested = [nested]
        try:
            orjson.dumps(nested)
            lo = mid
        except orjson.JSONEncodeError:
            hi = mid - 1
    return lo


def _render(path: list[str | int]) -> str:
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            name = key if len(key) <= 40 else key[:40] + "…"
            out += f".{name}" if out else name
    return out
