"""Model lists in the three shapes clients expect."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.errors import NotFound
from router.formats import Format

from ._context import CONTEXT
from ._keys import STATE

__all__ = ["gemini_list", "gemini_model", "model_get", "model_list"]

_CREATED = 1735689600  # 2025-01-01: the lists need a stable timestamp; upstreams know the real one


def gemini_model(model: str, provider: str) -> dict[str, Any]:
    return {
        "name": f"models/{model}",
        "version": "001",
        "displayName": model,
        "description": f"served by {provider}",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    }


async def model_list(request: web.Request) -> web.StreamResponse:
    """``GET /v1/models`` in the shape of whichever client asked."""
    fmt = request[CONTEXT].fmt
    if fmt is Format.GEMINI:
        return await gemini_list(request)
    models = request.app[STATE].current.table.listed_models()
    if fmt is Format.ANTHROPIC:
        data = [
            {
                "type": "model",
                "id": m,
                "display_name": m,
                "created_at": "2025-01-01T00:00:00Z",
            }
            for m, _ in models
        ]
        return web.json_response(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )
    return web.json_response(
        {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": _CREATED, "owned_by": prov.name}
                for m, prov in models
            ],
        }
    )


async def model_get(request: web.Request) -> web.StreamResponse:
    """One model, in the caller's shape; known if listed or if a rule can serve it."""
    name = request.match_info["model"]
    name = name.removeprefix("models/")
    table = request.app[STATE].current.table
    owner = dict(table.listed_models()).get(name)
    if owner is None:
        route = table.route(name)
        if route is None or not route.rule.providers:
            raise NotFound(f"model '{name}' is not served here")
        owner = route.rule.providers[0]
    fmt = request[CONTEXT].fmt
    if fmt is Format.GEMINI:
        return web.json_response(gemini_model(name, owner.name))
    if fmt is Format.ANTHROPIC:
        return web.json_response(
            {
                "type": "model",
                "id": name,
                "display_name": name,
                "created_at": "2025-01-01T00:00:00Z",
            }
        )
    return web.json_response(
        {"id": name, "object": "model", "created": _CREATED, "owned_by": owner.name}
    )


async def gemini_list(request: web.Request) -> web.StreamResponse:
    models = request.app[STATE].current.table.listed_models()
    return web.json_response({"models": [gemini_model(m, p.name) for m, p in models]})
