"""OpenAI Responses (``POST /v1/responses``), the API Codex CLI speaks."""

from __future__ import annotations

from aiohttp import web

from router.errors import BadRequest

from ._body import expect, read_json
from ._context import CONTEXT
from ._keys import STATE
from ._proxy import Forward, forward

__all__ = ["create_response"]


async def create_response(request: web.Request) -> web.StreamResponse:
    snap = request.app[STATE].current
    ctx = request[CONTEXT]
    body, raw = await read_json(request, snap.config.server.max_body_bytes)
    model = expect(body, "model", str, nonempty=True)
    given = body.get("input")
    if not isinstance(given, str | list):
        raise BadRequest("'input' is required: a string or an array of input items", param="input")
    if body.get("previous_response_id") is not None:
        raise BadRequest(
            "'previous_response_id' is not supported: this proxy stores no responses; "
            "send the whole conversation in 'input'",
            param="previous_response_id",
        )
    stream = bool(expect(body, "stream", bool, required=False))
    fwd = Forward(ctx.fmt, model, body, raw, stream)
    del body, raw  # Forward holds them now, and lets go once an answer streams
    return await forward(request, snap, ctx, fwd)
