"""OpenAI Chat Completions on the wire: the JSON answer, stream chunks and error bodies."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from ._chain import Delta
from ._errors import BackendError, ChainFailed, WebAIError

__all__ = ["ChunkWriter", "completion", "error_body", "error_event", "model_list"]

# kind -> (OpenAI error type, code)
_OPENAI_KIND = {
    "invalid_request": ("invalid_request_error", None),
    "authentication": ("invalid_request_error", "invalid_api_key"),
    "not_found": ("invalid_request_error", "model_not_found"),
    "rate_limit": ("rate_limit_error", "rate_limit_exceeded"),
    "timeout": ("api_error", "timeout"),
    "api_error": ("api_error", None),
}


def error_body(exc: WebAIError) -> bytes:
    etype, code = _OPENAI_KIND.get(exc.kind, ("api_error", None))
    return orjson.dumps(
        {"error": {"message": _message(exc), "type": etype, "param": None, "code": code}}
    )


def error_event(exc: WebAIError) -> bytes:
    """How an OpenAI stream ends in error once 200 has been sent (no ``[DONE]`` follows)."""
    return b"data: " + error_body(exc) + b"\n\n"


def _message(exc: WebAIError) -> str:
    """One backend's failure names it; a chain's failure already lists every backend."""
    if isinstance(exc, BackendError) and not isinstance(exc, ChainFailed) and exc.backend:
        return f"{exc.backend}: {exc.message}"
    return exc.message


def completion(model: str, text: str, reasoning: str) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning:
        message["reasoning_content"] = reasoning
    return orjson.dumps(
        {
            "id": _id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


class ChunkWriter:
    """``chat.completion.chunk`` events of one answer, framed as SSE."""

    __slots__ = ("_base", "_started")

    def __init__(self, model: str) -> None:
        self._base = {
            "id": _id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self._started = False

    def delta(self, piece: Delta) -> bytes:
        delta: dict[str, Any] = {}
        if not self._started:
            delta["role"] = "assistant"
            self._started = True
        if piece.reasoning:
            delta["reasoning_content"] = piece.reasoning
        if piece.text:
            delta["content"] = piece.text
        return self._event(delta, None)

    def finish(self) -> bytes:
        return self._event({}, "stop") + b"data: [DONE]\n\n"

    def _event(self, delta: dict[str, Any], finish: str | None) -> bytes:
        chunk = {**self._base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(chunk) + b"\n\n"


def model_list(names: list[str]) -> bytes:
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "webai"} for n in names]
    return orjson.dumps({"object": "list", "data": data})


def _id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex
