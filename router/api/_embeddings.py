"""Embeddings: OpenAI ``POST /v1/embeddings`` and Gemini ``:embedContent`` /
``:batchEmbedContents``, routed by ``models.routing`` like every model request.

Only API-key providers that have an embeddings endpoint serve them:
``openai-compatible`` (upstream ``/embeddings``) and ``gemini`` (upstream
``:embedContent`` / ``:batchEmbedContents``); the rule's other providers are
skipped, and a rule with none of them answers 400. Failover, cooldowns and
error answers are ``forward``'s (``_proxy``); this module only says how one
candidate is asked and how its answer is given back (router.formats.embeddings).
Same format in and out passes the client's body through (model names rewritten
where the rule aliases them) and the upstream's answer back as it came.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from router.errors import BadRequest, ProxyError, UpstreamConnectError
from router.executors import Action, Executor, UpstreamCall
from router.formats import Format, WireBody
from router.formats.embeddings import (
    EmbedRequest,
    EmbedResult,
    gemini_embed_request,
    gemini_embed_response,
    gemini_embed_result,
    gemini_upstream_bodies,
    openai_embed_request,
    openai_embed_response,
    openai_embed_result,
    openai_upstream_body,
)
from router.formats.ir import TranslationError
from router.routing import Candidate
from suite.config import ProviderConfig

from ._body import expect, read_json
from ._context import CONTEXT, RequestContext, model_ref
from ._keys import STATE
from ._proxy import Forward, forward

__all__ = ["GEMINI_EMBED_ACTIONS", "gemini_embed", "openai_embeddings"]

#: The provider kinds with an embeddings endpoint, and the format it speaks.
_WIRES = {"openai-compatible": Format.OPENAI, "gemini": Format.GEMINI}
GEMINI_EMBED_ACTIONS = frozenset({"embedContent", "batchEmbedContents"})


def _parsed(read: Any, *args: Any, **kwargs: Any) -> EmbedRequest:
    try:
        req: EmbedRequest = read(*args, **kwargs)
    except TranslationError as exc:
        raise BadRequest(f"'{exc.field}' {exc.message}", param=exc.field) from None
    return req


async def openai_embeddings(request: web.Request) -> web.StreamResponse:
    snap = request.app[STATE].current
    ctx = request[CONTEXT]
    body, raw = await read_json(request, snap.config.server.max_body_bytes)
    model = expect(body, "model", str, nonempty=True)
    req = _parsed(openai_embed_request, body)
    job = _Embed(ctx, Format.OPENAI, body, raw, req, batch=not req.single)
    fwd = Forward(Format.OPENAI, model, body, raw, stream=False, action="embed")
    return await forward(request, snap, ctx, fwd, attempt=job)


async def gemini_embed(request: web.Request, model: str, action: str) -> web.StreamResponse:
    """``models/{model}:embedContent`` or ``:batchEmbedContents`` (called by the Gemini
    model-action route, which owns the path)."""
    snap = request.app[STATE].current
    ctx = request[CONTEXT]
    body, raw = await read_json(request, snap.config.server.max_body_bytes)
    batch = action == "batchEmbedContents"
    req = _parsed(gemini_embed_request, body, model, batch=batch)
    job = _Embed(ctx, Format.GEMINI, body, raw, req, batch=batch)
    act: Action = "batch_embed" if batch else "embed"
    fwd = Forward(Format.GEMINI, model, body, raw, stream=False, action=act)
    return await forward(request, snap, ctx, fwd, attempt=job)


class _Embed:
    """One embeddings request, asked of each candidate in turn (``_proxy.Attempt``)."""

    def __init__(
        self,
        ctx: RequestContext,
        fmt: Format,
        body: dict[str, Any],
        raw: bytes,
        req: EmbedRequest,
        *,
        batch: bool,
    ) -> None:
        self.ctx = ctx
        self.fmt = fmt
        self.body = body
        self.raw = raw
        self.req = req
        self.batch = batch  # the client's shape: a list (OpenAI) / batchEmbedContents

    def usable(self, provider: ProviderConfig) -> bool:
        wire = _WIRES.get(provider.kind)
        if wire is None:
            return False
        if wire is self.fmt:
            return True
        # What only one format can carry: OpenAI's token ids, Gemini's non-text parts.
        return not (self.req.tokens if wire is Format.GEMINI else self.req.media)

    def unusable(self, model: str) -> ProxyError:
        if self.req.tokens or self.req.media:
            what = "token-id inputs" if self.req.tokens else "non-text parts"
            return BadRequest(
                f"model '{model_ref(model)}': no provider of its routing rule can embed"
                f" {what} (an {'openai-compatible' if self.req.tokens else 'gemini'}"
                " provider can)"
            )
        return BadRequest(
            f"model '{model_ref(model)}' cannot embed: no provider of its routing rule has an"
            " embeddings endpoint (kinds openai-compatible and gemini have one)",
            param="model",
        )

    async def __call__(self, executor: Executor, cand: Candidate, model: str) -> web.StreamResponse:
        wire = _WIRES[cand.provider.kind]
        try:
            if wire is self.fmt:
                out, result = await self._same_format(executor, cand, model)
            elif wire is Format.OPENAI:
                out, result = await self._via_openai(executor, cand, model)
            else:
                out, result = await self._via_gemini(executor, cand, model)
        except TranslationError as exc:  # the answer was not the API's
            raise UpstreamConnectError(
                f"{cand.provider.name}: embeddings answer could not be read:"
                f" {exc.field}: {exc.message}"
            ) from None
        cand.credential.succeeded()
        ctx = self.ctx
        ctx.mark_first_byte()
        tokens = result.prompt_tokens
        ctx.tokens_in = tokens if tokens is not None else self.req.estimated_tokens()
        ctx.tokens_out = 0
        return web.Response(body=out, content_type="application/json")

    async def _same_format(
        self, executor: Executor, cand: Candidate, model: str
    ) -> tuple[bytes, EmbedResult]:
        """Passthrough: the client's body (model names rewritten) and the answer as it came."""
        body = self.raw
        if self.fmt is Format.OPENAI:
            if model != self.body.get("model"):
                body = orjson.dumps({**self.body, "model": model})
            data = await _send(executor, cand, "embed", model, body)
            return data, openai_embed_result(data, self.req.count)
        action: Action = "batch_embed" if self.batch else "embed"
        if self.batch and any(
            isinstance(r, dict) and r.get("model") not in (None, f"models/{model}")
            for r in self.body["requests"]
        ):
            requests = [{**r, "model": f"models/{model}"} for r in self.body["requests"]]
            body = orjson.dumps({**self.body, "requests": requests})
        data = await _send(executor, cand, action, model, body)
        return data, gemini_embed_result(data, self.req.count, batch=self.batch)

    async def _via_openai(
        self, executor: Executor, cand: Candidate, model: str
    ) -> tuple[bytes, EmbedResult]:
        """A Gemini client served by an OpenAI-compatible upstream."""
        body = _translated(openai_upstream_body, self.req, model)
        data = await _send(executor, cand, "embed", model, body)
        result = openai_embed_result(data, self.req.count)
        return gemini_embed_response(result, batch=self.batch), result

    async def _via_gemini(
        self, executor: Executor, cand: Candidate, model: str
    ) -> tuple[bytes, EmbedResult]:
        """An OpenAI client served by Gemini: one embedContent, or batches of 100."""
        bodies, batch = _translated(gemini_upstream_bodies, self.req, model)
        vectors: list[tuple[float, ...]] = []
        tokens: int | None = 0
        for i, body in enumerate(bodies):
            expected = min(100, self.req.count - 100 * i) if batch else 1
            data = await _send(executor, cand, "batch_embed" if batch else "embed", model, body)
            part = gemini_embed_result(data, expected, batch=batch)
            vectors.extend(part.vectors)
            if tokens is not None and part.prompt_tokens is not None:
                tokens += part.prompt_tokens
            else:
                tokens = None
        result = EmbedResult(tuple(vectors), tokens)
        client_model = str(self.body.get("model", model))
        return openai_embed_response(result, self.req, client_model), result


def _translated(build: Any, req: EmbedRequest, model: str) -> Any:
    try:
        return build(req, model)
    except TranslationError as exc:
        raise BadRequest(f"'{exc.field}' {exc.message}", param=exc.field) from None


async def _send(
    executor: Executor, cand: Candidate, action: Action, model: str, body: bytes
) -> bytes:
    reply = await executor.send(
        UpstreamCall(action=action, model=model, body=WireBody.from_bytes(body), stream=False),
        cand.credential,
    )
    try:
        return await reply.read()
    finally:
        reply.close()
