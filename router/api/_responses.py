"""OpenAI Responses (``POST /v1/responses``), the API Codex CLI speaks."""

from __future__ import annotations

from aiohttp import web

from router.errors import BadRequest

from ._body import expect
from ._context import CONTEXT
from ._head import RESPONSES
from ._keys import STATE
from ._plan import read_forward
from ._proxy import forward

__all__ = ["create_response"]


def _checked(body: dict[str, object]) -> tuple[str, bool]:
    model: str = expect(body, "model", str, nonempty=True)
    given = body.get("input")
    if not isinstance(given, str | list):
        raise BadRequest("'input' is required: a string or an array of input items", param="input")
    if body.get("previous_response_id") is not None:
        raise BadRequest(
            "'previous_response_id' is not supported: this proxy stores no responses; "
            "send the whole conversation in 'input'",
            param="previous_response_id",
        )
    return model, bool(expect(body, "stream", bool, required=False))


async def create_response(request: web.Request) -> web.StreamResponse:
    snap = request.app[STATE].current
    ctx = request[CONTEXT]
    fwd = await read_forward(request, snap, ctx.fmt, RESPONSES, _checked)
    return await forward(request, snap, ctx, fwd)
