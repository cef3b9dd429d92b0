"""Model lists in the three shapes clients expect."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.errors import NotFound

from ._context import CONTEXT
from ._keys import STATE

__all__ = ["gemini_list", "gemini_model", "openai_or_anthropic_list", "openai_model"]

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


async def openai_or_anthropic_list(request: web.Request) -> web.StreamResponse:
    models = request.app[STATE].current.table.listed_models()
    if request[CONTEXT].fmt.value == "anthropic":
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


async def openai_model(request: web.Request) -> web.StreamResponse:
    name = request.match_info["model"]
    for m, prov in request.app[STATE].current.table.listed_models():
        if m == name:
            return web.json_response(
                {"id": m, "object": "model", "created": _CREATED, "owned_by": prov.name}
            )
    raise NotFound(f"model '{name}' is not served here")


async def gemini_list(request: web.Request) -> web.StreamResponse:
    models = request.app[STATE].current.table.listed_models()
    return web.json_response({"models": [gemini_model(m, p.name) for m, p in models]})
