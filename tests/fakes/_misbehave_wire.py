"""The few valid shapes the misbehaving upstream needs, per provider wire.

Just enough of OpenAI Chat Completions, OpenAI Responses, Anthropic Messages
and Gemini for the router to accept the *start* of an answer (so a failure
that follows lands after the first byte), a complete short answer, a huge
answer whose bulk is one long text generated lazily, and each provider's
error body. The full, strict renderings live in the provider fakes.
"""

from __future__ import annotations

import secrets
import time
from enum import StrEnum
from typing import Any

import orjson

from . import _sse

__all__ = ["Wire", "error_body", "first_events", "json_parts", "last_events", "stream_event"]


class Wire(StrEnum):
    """Which API a request was made to (from its path)."""

    OPENAI = "openai"
    RESPONSES = "responses"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


def _text_message(wire: Wire, model: str, text: str) -> dict[str, Any]:
    """A complete non-stream answer whose text is ``text``."""
    if wire is Wire.OPENAI:
        return {
            "id": "chatcmpl-" + secrets.token_hex(8),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }
    if wire is Wire.ANTHROPIC:
        return {
            "id": "msg_" + secrets.token_hex(12),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 2},
        }
    if wire is Wire.GEMINI:
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 5,
                "candidatesTokenCount": 2,
                "totalTokenCount": 7,
            },
            "modelVersion": model,
        }
    return _response(model, "completed", [_output_item(text, "completed")])


def _output_item(text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if text else []
    return {
        "type": "message",
        "id": "msg_fake",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _response(model: str, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
        if status == "completed"
        else None,
    }


_HOLE = "\x00HOLE\x00"


def json_parts(wire: Wire, model: str) -> tuple[bytes, bytes]:
    """A non-stream answer split where its text goes: ``head + text + tail`` is valid
    JSON for any text that needs no escaping (a huge body is streamed into the gap)."""
    body = orjson.dumps(_text_message(wire, model, _HOLE))
    head, _, tail = body.partition(orjson.dumps(_HOLE)[1:-1])
    return head, tail


def stream_event(wire: Wire, model: str, text: str) -> bytes:
    """One text delta, framed as the provider frames it."""
    if wire is Wire.OPENAI:
        chunk = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": text},
                    "finish_reason": None,
                }
            ],
        }
        return _sse.unnamed(chunk)
    if wire is Wire.ANTHROPIC:
        delta = {"type": "text_delta", "text": text}
        return _sse.event(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )
    if wire is Wire.GEMINI:
        parts = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        return _sse.gemini_data({"candidates": [parts], "modelVersion": model})
    out: dict[str, object] = {
        "type": "response.output_text.delta",
        "item_id": "msg_fake",
        "output_index": 0,
        "content_index": 0,
        "delta": text,
    }
    return _sse.event("response.output_text.delta", out)


def first_events(wire: Wire, model: str, text: str, *, sse: bool = True) -> bytes:
    """The opening of a streamed answer, up to and including its first text delta."""
    if wire is Wire.GEMINI and not sse:
        return b"[" + orjson.dumps(_gemini_chunk(model, text))
    if wire is Wire.ANTHROPIC:
        start = _text_message(wire, model, "")
        start.update(content=[], stop_reason=None, usage={"input_tokens": 5, "output_tokens": 1})
        block = {"type": "content_block_start", "index": 0}
        block["content_block"] = {"type": "text", "text": ""}
        return (
            _sse.event("message_start", {"type": "message_start", "message": start})
            + _sse.event("content_block_start", block)
            + stream_event(wire, model, text)
        )
    if wire is Wire.RESPONSES:
        created = {"type": "response.created", "response": _response(model, "in_progress", [])}
        item = {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _output_item("", "in_progress"),
        }
        part = {
            "type": "response.content_part.added",
            "item_id": "msg_fake",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        }
        return (
            _sse.event("response.created", created)
            + _sse.event("response.output_item.added", item)
            + _sse.event("response.content_part.added", part)
            + stream_event(wire, model, text)
        )
    return stream_event(wire, model, text)


def last_events(wire: Wire, model: str, text: str, *, sse: bool = True) -> bytes:
    """What ends a streamed answer whose whole text was ``text``."""
    if wire is Wire.GEMINI:
        final = _text_message(wire, model, "")
        final["candidates"][0]["content"]["parts"] = [{"text": ""}]
        if not sse:
            return b",\r\n" + orjson.dumps(final) + b"]"
        return _sse.gemini_data(final)
    if wire is Wire.OPENAI:
        chunk = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }
        return _sse.unnamed(chunk) + _sse.DONE
    if wire is Wire.ANTHROPIC:
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        }
        return (
            _sse.event("content_block_stop", {"type": "content_block_stop", "index": 0})
            + _sse.event("message_delta", delta)
            + _sse.event("message_stop", {"type": "message_stop"})
        )
    done = {
        "type": "response.completed",
        "response": _response(model, "completed", [_output_item(text, "completed")]),
    }
    return _sse.event("response.completed", done)


def _gemini_chunk(model: str, text: str) -> dict[str, Any]:
    parts = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    return {"candidates": [parts], "modelVersion": model}


_OPENAI_TYPES = {401: "invalid_request_error", 429: "requests"}
_ANTHROPIC_TYPES = {401: "authentication_error", 429: "rate_limit_error", 529: "overloaded_error"}
_GOOGLE_STATUS = {401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}


def error_body(wire: Wire, status: int, message: str) -> bytes:
    """The provider's own error body for ``status``."""
    if wire is Wire.ANTHROPIC:
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})
    if wire is Wire.GEMINI:
        state = _GOOGLE_STATUS.get(status, "INTERNAL")
        return orjson.dumps({"error": {"code": status, "message": message, "status": state}})
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    code = "invalid_api_key" if status == 401 else None
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
