"""Embedding endpoints for the OpenAI and Gemini fakes (each registers them with one line).

OpenAI ``POST /v1/embeddings`` (platform.openai.com/docs/api-reference/embeddings):
``input`` a string, strings, token ids or token-id arrays; ``encoding_format``
``float`` or ``base64`` (little-endian float32, as the SDK decodes it);
``dimensions`` only for the ``text-embedding-3`` models. Refused as the API
refuses them: an empty input or an empty string in the list (400 ``'$.input' is
invalid...``, the API's own words), more than 2048 inputs (400), a model that
is not an embedding model (404 ``model_not_found``).

Gemini ``POST /{version}/models/{m}:embedContent`` -> ``{"embedding": {"values"}}``
and ``:batchEmbedContents`` -> ``{"embeddings": [{"values"}]}``
(ai.google.dev/api/embeddings): every batch request names its ``model``
(``models/{m}``, as google-genai sends it), at most 100 requests (400
``* BatchEmbedContentsRequest.requests: at most 100 requests can be in one
batch``, Google's words), parts must not be empty, ``outputDimensionality``
truncates, unknown or non-embedding models are 404. No ``usageMetadata``.
A model named in the fake's ``models`` embeds too (768 dimensions), so one model
name can be served by both fakes in a failover test.

Vectors are deterministic per text (and exactly representable in float32, so a
base64 round trip compares equal): tests can recompute them with
:func:`vector_for`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ._base import FakeServer, request_json
from ._behaviours import Delay, Fail

__all__ = [
    "GEMINI_EMBEDDING_MODELS",
    "OPENAI_EMBEDDING_MODELS",
    "gemini_embedding_routes",
    "openai_embedding_routes",
    "vector_for",
]

#: model -> native dimensions (the 3-series take ``dimensions``; ada-002 does not).
OPENAI_EMBEDDING_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
GEMINI_EMBEDDING_MODELS = {"gemini-embedding-001": 3072, "text-embedding-004": 768}
_OPENAI_LIMIT = 2048
_GEMINI_LIMIT = 100
_EXTRA_DIMS = 768  # a model the test named in the fake's ``models`` also embeds
_INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
_GOOGLE_HEADERS = {"Content-Type": "application/json; charset=UTF-8", "Vary": "Origin, X-Origin"}


def vector_for(text: str, dims: int) -> list[float]:
    """The fake's embedding of ``text``: ``k / 128`` values from its SHA-256."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(((digest[i % 32] ^ (i // 32)) & 0xFF) - 128) / 128 for i in range(dims)]


async def _scripted(fake: FakeServer) -> web.Response | None:
    """The fake's next scripted behaviour, if it is a failure (else None: answer)."""
    queue = fake._queue  # noqa: SLF001 - same package: the fakes' shared script
    behaviour = queue.popleft() if queue else fake.default
    while isinstance(behaviour, Delay):
        await asyncio.sleep(behaviour.seconds)
        behaviour = behaviour.then if behaviour.then is not None else fake.default
    if isinstance(behaviour, Fail):
        return fake.error_response(
            behaviour.status, behaviour.message, behaviour.retry_after, behaviour.kind
        )
    return None


# -- OpenAI ---------------------------------------------------------------------------


def openai_embedding_routes(fake: Any) -> list[web.RouteDef]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _openai(fake, request)

    return [web.post("/v1/embeddings", handler)]


def _openai_inputs(value: object) -> list[str] | list[list[int]] | None:
    if isinstance(value, str):
        return [value] if value else None
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, str) and v for v in value):
        return list(value)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [list(value)]
    if all(isinstance(v, list) and v and all(isinstance(t, int) for t in v) for v in value):
        return [list(v) for v in value]
    return None


async def _openai(fake: Any, request: web.Request) -> web.StreamResponse:
    denied = fake._check_auth(request)  # noqa: SLF001
    if denied is not None:
        return denied
    body = request_json(request)
    if not isinstance(body, dict):
        return fake._error(
            400, "We could not parse the JSON body of your request.", "invalid_request_error", None
        )  # noqa: SLF001, E501

    def invalid(message: str, param: str | None = None) -> web.Response:
        return fake._error(400, message, "invalid_request_error", None, param)  # noqa: SLF001

    model = body.get("model")
    if not isinstance(model, str) or not model:
        return invalid("you must provide a model parameter", "model")
    raw = body.get("input")
    if isinstance(raw, list) and len(raw) > _OPENAI_LIMIT:
        return invalid(f"{_INVALID_INPUT} (array length must be {_OPENAI_LIMIT} or less)")
    inputs = _openai_inputs(raw)
    if inputs is None:
        return invalid(_INVALID_INPUT)
    native = OPENAI_EMBEDDING_MODELS.get(
        model, _EXTRA_DIMS if model in (fake.models or ()) else None
    )
    if native is None:
        return fake._error(  # noqa: SLF001
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        return invalid(
            f"Invalid value: '{fmt}'. Supported values are: 'float' and 'base64'.",
            "encoding_format",
        )
    dims = body.get("dimensions")
    if dims is not None:
        if model == "text-embedding-ada-002":
            return invalid("This model does not support specifying dimensions.", "dimensions")
        if not isinstance(dims, int) or not 1 <= dims <= native:
            return invalid(
                f"Invalid value for 'dimensions': must be between 1 and {native}.", "dimensions"
            )
    failed = await _scripted(fake)
    if failed is not None:
        return failed
    size = dims or native
    data = []
    tokens = 0
    for i, item in enumerate(inputs):
        text = item if isinstance(item, str) else " ".join(map(str, item))
        tokens += max(1, len(item) // 4) if isinstance(item, str) else len(item)
        vector = vector_for(text, size)
        embedding: Any = vector
        if fmt == "base64":
            embedding = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    answer = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return fake.json(answer, 200, {"x-request-id": "req_embeddings", "openai-model": model})


# -- Gemini ---------------------------------------------------------------------------


def gemini_embedding_routes(fake: Any) -> list[web.RouteDef]:
    def bind(batch: bool) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await _gemini(fake, request, batch)

        return handler

    return [
        web.post("/{version}/models/{model}:embedContent", bind(False)),
        web.post("/{version}/models/{model}:batchEmbedContents", bind(True)),
    ]


def _pretty(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(payload, indent=2).encode(), status=status, headers=_GOOGLE_HEADERS
    )


def _content_text(content: object) -> str | None:
    if not isinstance(content, dict):
        return None
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        return None
    texts = [p.get("text") for p in parts if isinstance(p, dict) and "text" in p]
    strings = [t for t in texts if isinstance(t, str)]
    if len(strings) != len(texts):
        return None  # a text that is not a string: refused like an empty one, a 400
    return "\n".join(strings)


async def _gemini(fake: Any, request: web.Request, batch: bool) -> web.StreamResponse:
    version, model = request.match_info["version"], request.match_info["model"]
    if version not in ("v1", "v1beta", "v1alpha"):
        return fake.not_found(request)
    denied = fake._check_auth(request)  # noqa: SLF001
    if denied is not None:
        return denied
    body = request_json(request)
    method = "batchEmbedContents" if batch else "embedContent"
    kind = "BatchEmbedContentsRequest" if batch else "EmbedContentRequest"

    def invalid(message: str) -> web.Response:
        return fake._google_error(400, message)  # noqa: SLF001

    if not isinstance(body, dict):
        return invalid("Invalid JSON payload received. Unexpected token.")
    items: list[Any] = body.get("requests", []) if batch else [body]
    if batch:
        if not isinstance(items, list) or not items:
            return invalid(f"* {kind}.requests: contents are required.")
        if len(items) > _GEMINI_LIMIT:
            return invalid(
                f"* {kind}.requests: at most {_GEMINI_LIMIT} requests can be in one batch"
            )
    texts: list[str] = []
    dims: list[int | None] = []
    for i, item in enumerate(items):
        where = f"{kind}.requests[{i}]" if batch else kind
        if not isinstance(item, dict):
            return invalid(f"* {where}: invalid value")
        if batch:
            named = item.get("model")
            if not isinstance(named, str) or not named.startswith("models/"):
                return invalid(f"* {where}.model: unexpected model name format")
            if named != f"models/{model}":
                return invalid(
                    f"* {where}.model: model {named} does not match the batch model models/{model}"
                )
        text = _content_text(item.get("content"))
        if text is None:
            return invalid(f"* {where}.content.parts: contents.parts must not be empty.")
        texts.append(text)
        dim = item.get("outputDimensionality")
        if dim is not None and (not isinstance(dim, int) or dim < 1):
            return invalid(f"* {where}.output_dimensionality: must be positive")
        dims.append(dim)
    native = GEMINI_EMBEDDING_MODELS.get(
        model, _EXTRA_DIMS if model in (fake.models or ()) else None
    )
    if native is None:
        return fake._google_error(  # noqa: SLF001
            404,
            f"models/{model} is not found for API version {version}, or is not supported for"
            f" {method}. Call ListModels to see the list of available models and their"
            " supported methods.",
        )
    failed = await _scripted(fake)
    if failed is not None:
        return failed
    vectors = [
        {"values": vector_for(t, min(d or native, native))}
        for t, d in zip(texts, dims, strict=True)
    ]
    return _pretty({"embeddings": vectors} if batch else {"embedding": vectors[0]})
