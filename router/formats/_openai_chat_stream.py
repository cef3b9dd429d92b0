"""OpenAI Chat Completions streaming: chunks -> IR events, IR events -> chunks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from . import ir
from ._common import OPENAI_ERROR_TYPES, export_signature, import_signature, kind_from_openai, sse
from ._json import MALFORMED, int_of

FORMAT: ir.Format = "openai_chat"

_STOP_IN = {
    "stop": ir.StopReason.END_TURN,
    "length": ir.StopReason.MAX_TOKENS,
    "tool_calls": ir.StopReason.TOOL_USE,
    "function_call": ir.StopReason.TOOL_USE,
    "content_filter": ir.StopReason.CONTENT_FILTER,
}
_STOP_OUT = {
    ir.StopReason.END_TURN: "stop",
    ir.StopReason.MAX_TOKENS: "length",
    ir.StopReason.TOOL_USE: "tool_calls",
    ir.StopReason.STOP_SEQUENCE: "stop",
    ir.StopReason.CONTENT_FILTER: "content_filter",
    ir.StopReason.ERROR: "stop",
}


def stop_from_wire(reason: str | None, has_calls: bool) -> ir.StopReason:
    stop = _STOP_IN.get(reason or "stop", ir.StopReason.END_TURN)
    if has_calls and stop is ir.StopReason.END_TURN:
        return ir.StopReason.TOOL_USE
    return stop


def finish_to_wire(reason: ir.StopReason) -> str:
    return _STOP_OUT[reason]


def usage_from_wire(u: Mapping[str, Any]) -> ir.Usage:
    prompt = u.get("prompt_tokens_details") or {}
    completion = u.get("completion_tokens_details") or {}
    cached = int_of(prompt.get("cached_tokens")) or int_of(u.get("prompt_cache_hit_tokens"))
    return ir.Usage(
        input_tokens=int_of(u.get("prompt_tokens")),
        output_tokens=int_of(u.get("completion_tokens")),
        cached_input_tokens=cached,
        reasoning_tokens=int_of(completion.get("reasoning_tokens")),
    )


def usage_to_wire(u: ir.Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


class StreamDecoder:
    """``chat.completion.chunk`` events -> IR events."""

    def __init__(self) -> None:
        self._started = False
        self._done = False
        self._next = 0
        self._open: int | None = None
        self._open_kind = ""
        self._calls: dict[int, int] = {}  # wire tool index -> IR index
        self._last_call = -1
        self._finish: str | None = None
        self._has_calls = False
        self._usage: ir.Usage | None = None

    def _close(self) -> list[ir.Event]:
        if self._open is None:
            return []
        index, self._open, self._open_kind = self._open, None, ""
        return [ir.BlockEnd(index)]

    def _open_new(self, kind: str) -> tuple[list[ir.Event], int]:
        out = self._close()
        index = self._next
        self._next += 1
        self._open, self._open_kind = index, kind
        return out, index

    def feed(self, event: str | None, data: bytes) -> list[ir.Event]:
        """One SSE event (name or None, data) -> IR events."""
        try:
            return self._feed(event, data)
        except MALFORMED as exc:
            self._done = True
            return [ir.StreamError(f"malformed event from upstream ({exc})", "api_error")]

    def _feed(self, event: str | None, data: bytes) -> list[ir.Event]:
        if self._done:
            return []
        text = data.strip()
        if not text:
            return []
        if text == b"[DONE]":
            return self._end()
        try:
            chunk = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._done = True
            return [ir.StreamError("malformed chunk from upstream", "api_error")]
        if not isinstance(chunk, dict):
            return []
        out: list[ir.Event] = []
        if "error" in chunk and not chunk.get("choices"):
            self._done = True
            err = (
                chunk["error"]
                if isinstance(chunk["error"], dict)
                else {"message": str(chunk["error"])}
            )
            kind = kind_from_openai(str(err.get("type") or err.get("code") or ""))
            return [ir.StreamError(str(err.get("message") or "upstream error"), kind)]
        if not self._started:
            self._started = True
            out.append(ir.StreamStart(str(chunk.get("id") or ""), str(chunk.get("model") or "")))
        if isinstance(chunk.get("usage"), dict):
            self._usage = usage_from_wire(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or int_of(choice.get("index")) != 0:
                continue
            out += self._delta(choice.get("delta") or {})
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])
                out += self._close()
        return out

    def _delta(self, delta: dict[str, Any]) -> list[ir.Event]:
        out: list[ir.Event] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            if self._open_kind != "reasoning":
                events, _ = self._open_new("reasoning")
                out += events
            assert self._open is not None
            out.append(ir.ReasoningDelta(self._open, reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            if self._open_kind != "text":
                events, _ = self._open_new("text")
                out += events
            assert self._open is not None
            out.append(ir.TextDelta(self._open, content))
        for call in delta.get("tool_calls") or []:
            if isinstance(call, dict):
                out += self._tool_delta(call)
        return out

    def _tool_delta(self, call: dict[str, Any]) -> list[ir.Event]:
        out: list[ir.Event] = []
        wire = call.get("index")
        if not isinstance(wire, int):
            wire = self._last_call + 1 if call.get("id") else max(self._last_call, 0)
        fn = call.get("function") or {}
        if wire not in self._calls:
            self._has_calls = True
            extra = call.get("extra_content")
            sig = (
                extra.get("google", {}).get("thought_signature")
                if isinstance(extra, dict)
                else None
            )
            if isinstance(sig, str) and sig:
                events, sig_index = self._open_new("reasoning")
                value, source = import_signature(sig, FORMAT)
                out += events + [ir.ReasoningSignature(sig_index, value, False, source)]
            events, index = self._open_new("tool")
            out += events
            self._calls[wire] = index
            self._last_call = wire
            call_id = str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}")
            out.append(ir.ToolCallStart(index, call_id, str(fn.get("name") or "")))
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            out.append(ir.ToolCallDelta(self._calls[wire], args))
        return out

    def _end(self) -> list[ir.Event]:
        self._done = True
        out = self._close()
        if self._usage is not None:
            out.append(ir.UsageEvent(self._usage))
        out.append(ir.Stop(stop_from_wire(self._finish, self._has_calls)))
        return out

    def finish(self) -> list[ir.Event]:
        if self._done:
            return []
        if self._finish is not None:  # lenient: some servers omit [DONE]
            return self._end()
        self._done = True
        return [ir.StreamError("upstream stream ended before [DONE]", "api_error")]


class StreamEncoder:
    """IR events -> ``chat.completion.chunk`` SSE for the client."""

    def __init__(self, model: str, request_id: str) -> None:
        self._model = model
        self._id = f"chatcmpl-{request_id or uuid.uuid4().hex}"
        self._created = int(time.time())
        self._started = False
        self._done = False
        self._calls: dict[int, int] = {}
        self._pending_sig: str | None = None
        self._thought: set[int] = set()
        self._usage: ir.Usage | None = None

    def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, usage: ir.Usage | None = None
    ) -> bytes:
        body: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            body["usage"] = usage_to_wire(usage)
        return sse(None, body)

    def encode(self, ev: ir.Event) -> bytes:
        if self._done:
            return b""
        out = b""
        if not self._started:
            self._started = True
            out = self._chunk({"role": "assistant", "content": ""})
        if isinstance(ev, ir.TextDelta):
            return out + (self._chunk({"content": ev.text}) if ev.text else b"")
        if isinstance(ev, ir.ReasoningDelta):
            if not ev.text:
                return out
            self._thought.add(ev.index)
            return out + self._chunk({"reasoning_content": ev.text})
        if isinstance(ev, ir.ReasoningSignature):
            # An Anthropic signature binds its thinking text, which Chat cannot carry back.
            bound = ev.source == "anthropic" and ev.index in self._thought
            if not ev.redacted and not bound:
                self._pending_sig = export_signature(ev.signature, ev.source, FORMAT)
            return out
        if isinstance(ev, ir.ToolCallStart):
            wire = len(self._calls)
            self._calls[ev.index] = wire
            call: dict[str, Any] = {
                "index": wire,
                "id": ev.id,
                "type": "function",
                "function": {"name": ev.name, "arguments": ""},
            }
            if self._pending_sig is not None:
                call["extra_content"] = {"google": {"thought_signature": self._pending_sig}}
                self._pending_sig = None
            return out + self._chunk({"tool_calls": [call]})
        if isinstance(ev, ir.ToolCallDelta):
            wire_index = self._calls.get(ev.index)
            if wire_index is None or not ev.arguments_fragment:
                return out
            frag = {"index": wire_index, "function": {"arguments": ev.arguments_fragment}}
            return out + self._chunk({"tool_calls": [frag]})
        if isinstance(ev, ir.UsageEvent):
            self._usage = ev.usage
            return out
        if isinstance(ev, ir.Stop):
            self._done = True
            reason = finish_to_wire(ev.reason)
            if self._calls and ev.reason is ir.StopReason.END_TURN:
                reason = "tool_calls"
            return out + self._chunk({}, reason, self._usage or ir.Usage()) + b"data: [DONE]\n\n"
        if isinstance(ev, ir.StreamError):
            return out + self.error(ev.message, ev.kind)
        return out

    def error(self, message: str, kind: str = "api_error") -> bytes:
        self._done = True
        wire = OPENAI_ERROR_TYPES.get(kind, "server_error")
        body = {"error": {"message": message, "type": wire, "param": None, "code": wire}}
        return sse(None, body) + b"data: [DONE]\n\n"
