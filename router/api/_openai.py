"""OpenAI Chat Completions and the OpenAI-shaped model list."""

from __future__ import annotations

from aiohttp import web

from router.errors import BadRequest

from ._body import expect
from ._context import CONTEXT
from ._head import CHAT
from ._keys import STATE
from ._plan import read_forward
from ._proxy import forward

__all__ = ["chat_completions"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _checked(body: dict[str, object]) -> tuple[str, bool]:
    model: str = expect(body, "model", str, nonempty=True)
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
    return model, bool(expect(body, "stream", bool, required=False))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    snap = request.app[STATE].current
    ctx = request[CONTEXT]
    fwd = await read_forward(request, snap, ctx.fmt, CHAT, _checked)
    return await forward(request, snap, ctx, fwd)
