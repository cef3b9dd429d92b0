"""OpenAI Chat Completions and the OpenAI-shaped model list."""

from __future__ import annotations

from aiohttp import web

from router.errors import BadRequest

from ._body import expect, read_json
from ._context import CONTEXT
from ._keys import STATE
from ._proxy import Forward, forward

__all__ = ["chat_completions"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


async def chat_completions(request: web.Request) -> web.StreamResponse:
    snap = request.app[STATE].current
    ctx = request[CONTEXT]
    body, raw = await read_json(request, snap.config.server.max_body_bytes)
    model = expect(body, "model", str, nonempty=True)
    messages = expect(body, "messages", list, nonempty=True)
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise BadRequest(f"'messages[{i}]' must be an object", param=f"messages[{i}]")
        role = msg.get("role")
        if not isinstance(role, str) or role not in _ROLES:  # a dict or list is unhashable
            raise BadRequest(
                f"'messages[{i}].role' must be one of {', '.join(sorted(_ROLES))}",
                param=f"messages[{i}].role",
            )
    stream = bool(expect(body, "stream", bool, required=False))
    fwd = Forward(ctx.fmt, model, body, raw, stream)
    del body, raw  # Forward holds them now, and lets go once an answer streams
    return await forward(request, snap, ctx, fwd)
