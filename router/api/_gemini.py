"""Gemini ``/v1beta/models``: list, get, generate, stream and count."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.errors import BadRequest, NotFound
from router.formats import estimate_tokens
from router.routing import Route

from ._body import expect, read_json
from ._context import CONTEXT
from ._embeddings import GEMINI_EMBED_ACTIONS, gemini_embed
from ._head import GEMINI
from ._keys import STATE
from ._plan import read_forward
from ._proxy import Forward, forward

__all__ = ["model_action"]

_ACTIONS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})


async def model_action(request: web.Request) -> web.StreamResponse:
    target = request.match_info["target"]
    model, sep, action = target.rpartition(":")
    if not sep or action not in _ACTIONS and action not in GEMINI_EMBED_ACTIONS:
        raise NotFound(
            f"unknown method '{action or target}': expected generateContent, "
            "streamGenerateContent, countTokens, embedContent or batchEmbedContents"
        )
    if not model:
        raise BadRequest("the model name is missing from the path", param="model")
    if action in GEMINI_EMBED_ACTIONS:
        return await gemini_embed(request, model, action)
    snap = request.app[STATE].current
    ctx = request[CONTEXT]
    if action == "countTokens":
        body, raw = await read_json(request, snap.config.server.max_body_bytes)
        inner = body.get("generateContentRequest")
        counted = inner if isinstance(inner, dict) else body
        if not isinstance(counted.get("contents"), list):
            raise BadRequest("'contents' is required and must be an array", param="contents")

        def estimate(_: Route) -> web.StreamResponse:
            return web.json_response(
                {"totalTokens": estimate_tokens(counted)}, headers={"X-Token-Count": "estimate"}
            )

        fwd = Forward(ctx.fmt, model, body, raw, stream=False, action="count_tokens")
        return await forward(request, snap, ctx, fwd, fallback=estimate)
    path = (model, action == "streamGenerateContent")
    sse = request.query.get("alt") == "sse"
    fwd = await read_forward(request, snap, ctx.fmt, GEMINI, _checked, path=path, sse=sse)
    return await forward(request, snap, ctx, fwd)


def _checked(body: dict[str, Any]) -> tuple[str, bool]:
    """The body checked, naming the wrong field (model and stream come from the path)."""
    contents = expect(body, "contents", list, nonempty=True)
    for i, item in enumerate(contents):
        if not isinstance(item, dict) or not isinstance(item.get("parts"), list):
            raise BadRequest(
                f"'contents[{i}].parts' must be an array", param=f"contents[{i}].parts"
            )
    return "", False
