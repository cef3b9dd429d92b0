"""``codex-oauth``: OpenAI Responses on the ChatGPT backend with a subscription token.

The backend is stricter than the public Responses API: ``instructions`` is
required, system messages are refused in ``input``, ``store`` must be false
and the answer always streams. So the body is adjusted here, and a client
that did not ask for a stream gets the stream folded into one Responses body
(a stream that ends without ``response.completed`` is an error).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from router.auth import Token
from router.errors import BadRequest, UpstreamConnectError, UpstreamError, UpstreamHTTPError
from router.formats import Format, SSEParser, ir, responses

from ._base import UpstreamCall, UpstreamReply
from ._signed import SignedInExecutor

__all__ = ["AggregatedReply", "CodexOAuthExecutor", "codex_body"]

DEFAULT_INSTRUCTIONS = "You are a helpful assistant."
_UNSUPPORTED = (
    "max_output_tokens",
    "max_tokens",
    "max_completion_tokens",
    "previous_response_id",
    "temperature",
    "top_p",
    "truncation",
    "user",
    "metadata",
    "stream_options",
    "prompt_cache_retention",
    "safety_identifier",
    "generate",
    "background",
)
_ENCRYPTED = "reasoning.encrypted_content"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("text")
        )
    return ""


def codex_body(raw: bytes, model: str, default_instructions: str) -> bytes:
    """A Responses body the ChatGPT backend accepts."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    items = body.get("input")
    if isinstance(items, str):
        items = [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": items}]}
        ]
    elif not isinstance(items, list):
        items = []
    system: list[str] = []
    kept = []
    for item in items:
        if isinstance(item, dict) and item.get("role") == "system":
            text = _text_of(item.get("content"))
            if text:
                system.append(text)
        else:
            kept.append(item)
    instructions = body.get("instructions")
    parts = [instructions] if isinstance(instructions, str) and instructions.strip() else []
    body["instructions"] = "\n\n".join(parts + system) or default_instructions
    body["input"] = kept
    for name in _UNSUPPORTED:
        body.pop(name, None)
    include = body.get("include")
    include = [i for i in include if isinstance(i, str)] if isinstance(include, list) else []
    if _ENCRYPTED not in include:
        include.append(_ENCRYPTED)
    body.update(model=model, store=False, stream=True, include=include)
    return orjson.dumps(body)


class AggregatedReply:
    """A Responses stream read to its end and folded into one Responses body."""

    status = 200
    content_type = "application/json"

    def __init__(self, reply: UpstreamReply, model: str, request: bytes) -> None:
        self._reply = reply
        self._model = model
        self._request = request

    async def chunks(self) -> AsyncIterator[bytes]:
        yield await self.read()

    async def read(self) -> bytes:
        parser = SSEParser()
        decoder = responses.StreamDecoder()
        events: list[ir.Event] = []
        async for chunk in self._reply.chunks():
            for name, data in parser.feed(chunk):
                events.extend(decoder.feed(name, data))
        for name, data in parser.finish():
            events.extend(decoder.feed(name, data))
        events.extend(decoder.finish())
        try:
            resp = ir.aggregate(events)
        except ir.StreamFailed as exc:
            raise _stream_error(exc) from None
        return orjson.dumps(responses.response_from_ir(resp, self._model, tools=self._tools()))

    def _tools(self) -> tuple[ir.Tool, ...]:
        try:
            return responses.request_to_ir(orjson.loads(self._request)).tools
        except (ir.TranslationError, orjson.JSONDecodeError, TypeError, ValueError):
            return ()

    def close(self) -> None:
        self._reply.close()


def _stream_error(exc: ir.StreamFailed) -> UpstreamError:
    status = {"rate_limit": 429, "overloaded": 503, "invalid_request": 400}.get(exc.kind)
    if status is None:
        return UpstreamConnectError(f"codex stream failed: {exc.message}")
    return UpstreamHTTPError(status, f"codex stream failed: {exc.message}")


class CodexOAuthExecutor(SignedInExecutor):
    wire = Format.RESPONSES
    default_headers = {
        "OpenAI-Beta": "responses=experimental",
        "originator": "codex_cli_rs",
        "User-Agent": "codex_cli_rs/0.169.0",
    }

    def url(self, call: UpstreamCall) -> str:
        return f"{self.base_url}/responses"

    async def send_token(self, call: UpstreamCall, token: Token) -> UpstreamReply:
        instructions = str(self.provider.options.get("instructions") or DEFAULT_INSTRUCTIONS)
        body = codex_body(call.body, call.model, instructions)
        headers = {
            **self._static_headers,
            **call.forward_headers,
            "Authorization": f"Bearer {token.access}",
            "Accept": "text/event-stream",
            "session_id": str(uuid.uuid4()),
        }
        if token.account_id:
            headers["chatgpt-account-id"] = token.account_id
        reply = await self.post(self.url(call), body, headers)
        if call.stream:
            return reply
        return AggregatedReply(reply, call.model, call.body)

    def refine(self, error: UpstreamHTTPError) -> UpstreamHTTPError:
        """The backend says ``{"detail": ...}``; a usage limit is a 429 with its reset time."""
        try:
            body = orjson.loads(error.body)
        except orjson.JSONDecodeError:
            return error
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            error.message = f"{self.name}: upstream answered {error.status}: {body['detail'][:300]}"
        err = body.get("error") if isinstance(body, dict) else None
        if error.status == 429 and isinstance(err, dict) and error.retry_after is None:
            resets = err.get("resets_in_seconds")
            if isinstance(resets, int | float):
                error.retry_after = float(resets)
        return error
