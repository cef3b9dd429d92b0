"""Anthropic Messages and token counting."""

from __future__ import annotations

from aiohttp import web

from router.errors import BadRequest
from router.formats import estimate_tokens
from router.routing import Route

from ._body import expect, read_json
from ._context import CONTEXT
from ._head import MESSAGES
from ._keys import STATE
from ._plan import read_forward
from ._proxy import Forward, forward

__all__ = ["count_tokens", "messages"]


def _check_messages(body: dict[str, object]) -> None:
    msgs = expect(body, "messages", list, nonempty=True)
    for i, msg in enumerate(msgs):
        if not isinstance(msg, dict):
            raise BadRequest(f"messages.{i}: must be an object", param=f"messages.{i}")
        if msg.get("role") not in ("user", "assistant"):
            raise BadRequest(
                f"messages.{i}.role: must be 'user' or 'assistant'", param=f"messages.{i}.role"
            )
        content = msg.get("content")
        if not isinstance(content, str | list):
            raise BadRequest(
                f"messages.{i}.content: must be a string or a list of content blocks",
                param=f"messages.{i}.content",
            )


def _checked(body: dict[str, object]) -> tuple[str, bool]:
    model: str = expect(body, "model", str, nonempty=True)
    expect(body, "max_tokens", int)
    _check_messages(body)
    return model, bool(expect(body, "stream", bool, required=False))


async def messages(request: web.Request) -> web.StreamResponse:
    snap = request.app[STATE].current
    ctx = request[CONTEXT]
    fwd = await read_forward(request, snap, ctx.fmt, MESSAGES, _checked)
    return await forward(request, snap, ctx, fwd)


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """Forwarded to an Anthropic upstream when the model has one; estimated otherwise."""
    snap = request.app[STATE].current
    ctx = request[CONTEXT]
    body, raw = await read_json(request, snap.config.server.max_body_bytes)
    model = expect(body, "model", str, nonempty=True)
    _check_messages(body)

    def estimate(_: Route) -> web.StreamResponse:
        counted = {k: body.get(k) for k in ("system", "messages", "tools")}
        return web.json_response(
            {"input_tokens": estimate_tokens(counted)}, headers={"X-Token-Count": "estimate"}
        )

    fwd = Forward(ctx.fmt, model, body, raw, stream=False, action="count_tokens")
    return await forward(request, snap, ctx, fwd, fallback=estimate)
