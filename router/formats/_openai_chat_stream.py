"""OpenAI Chat Completions streaming: chunks -> IR events, IR events -> chunks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from router.errors import ErrorKind

from . import ir
from ._common import export_signature, import_signature, sse, sse_parts
from ._errors import chat_error_event, kind_from_openai
from ._json import int_of
from ._stream_base import DecoderBase, TextCut

FORMAT = ir.Format.OPENAI

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


class StreamDecoder(DecoderBase):
    """``chat.completion.chunk`` events -> IR events."""

    not_json = "malformed chunk from upstream"
    truncated = "upstream stream ended before [DONE]"

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._calls: dict[int, int] = {}  # wire tool index -> IR index
        self._last_call = -1
        self._finish: str | None = None
        self._has_calls = False
        self._usage: ir.Usage | None = None
        self._cut = TextCut()

    def _cut_open(self, index: int, tool: bool) -> bool:
        kind = "tool" if tool else "text"
        return self._started and self._open == index and self._open_kind == kind

    def _not_json(self, data: bytes) -> list[ir.Event]:
        if data.strip() == b"[DONE]":
            return self._end()
        return super()._not_json(data)

    def _event(self, event: str | None, chunk: dict[str, Any]) -> list[ir.Event]:
        choices = chunk.get("choices")
        if "error" in chunk and not choices:
            self._done = True
            err = (
                chunk["error"]
                if isinstance(chunk["error"], dict)
                else {"message": str(chunk["error"])}
            )
            kind = kind_from_openai(str(err.get("type") or ""), str(err.get("code") or ""))
            return [ir.StreamError(str(err.get("message") or "upstream error"), kind)]
        out: list[ir.Event] = []
        if not self._started:
            self._started = True
            out.append(ir.StreamStart(str(chunk.get("id") or ""), str(chunk.get("model") or "")))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage_from_wire(usage)
        for choice in choices or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            if index != 0 and int_of(index) != 0:
                continue
            self._delta(choice.get("delta") or {}, out)
            finish = choice.get("finish_reason")
            if finish:
                self._finish = str(finish)
                out += self._close()
        return out

    def _delta(self, delta: dict[str, Any], out: list[ir.Event]) -> None:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            out.append(ir.ReasoningDelta(self._into("reasoning", out), reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            out.append(ir.TextDelta(self._into("text", out), content))
        calls = delta.get("tool_calls")
        if calls:
            for call in calls:
                if isinstance(call, dict):
                    self._tool_delta(call, out)

    def _tool_delta(self, call: dict[str, Any], out: list[ir.Event]) -> None:
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
                events, sig_index = self._new("reasoning")
                value, source = import_signature(sig, FORMAT)
                out += events + [ir.ReasoningSignature(sig_index, value, False, source)]
            events, index = self._new("tool")
            out += events
            self._calls[wire] = index
            self._last_call = wire
            call_id = str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}")
            out.append(ir.ToolCallStart(index, call_id, str(fn.get("name") or "")))
        args = fn.get("arguments")
        if isinstance(args, str) and args:
            out.append(ir.ToolCallDelta(self._calls[wire], args))

    def _end(self) -> list[ir.Event]:
        return self._stop(self._usage, ir.Stop(stop_from_wire(self._finish, self._has_calls)))

    def _at_close(self) -> list[ir.Event] | None:
        return self._end() if self._finish is not None else None  # lenient: some omit [DONE]


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
        self._frames: dict[str | int, tuple[bytes, ...]] = {}  # see _delta

    def _body(
        self, delta: dict[str, Any], finish: str | None = None, usage: ir.Usage | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            body["usage"] = usage_to_wire(usage)
        return body

    def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, usage: ir.Usage | None = None
    ) -> bytes:
        return sse(None, self._body(delta, finish, usage))

    def _delta(self, key: str | int, text: str) -> bytes:
        """The chunk whose delta carries ``text`` under ``key``, or as arguments of the call
        at wire index ``key``: the frequent chunks, each framed once (``sse_parts``)."""
        frame = self._frames.get(key)
        if frame is None:

            def build(value: str) -> dict[str, Any]:
                if isinstance(key, str):
                    return self._body({key: value})
                return self._body(
                    {"tool_calls": [{"index": key, "function": {"arguments": value}}]}
                )

            frame = self._frames[key] = sse_parts(None, build)
        head, tail = frame
        return head + orjson.dumps(text) + tail

    def text_frame(self, index: int) -> tuple[bytes, bytes] | None:
        """``(head, tail)``: a non-empty ``TextDelta`` (of any block) encodes, right now,
        to ``head + orjson.dumps(text) + tail`` and changes nothing here; None when it
        would do anything else."""
        if self._done or not self._started:
            return None
        frame = self._frames.get("content")
        if frame is None:
            self._delta("content", "")
            frame = self._frames["content"]
        return frame[0], frame[1]

    def args_frame(self, index: int) -> tuple[bytes, bytes] | None:
        """``(head, tail)``: a non-empty ``ToolCallDelta`` of block ``index`` encodes, right
        now, to ``head + orjson.dumps(fragment) + tail`` and changes nothing here; None
        when it would do anything else."""
        wire = self._calls.get(index)
        if self._done or not self._started or wire is None:
            return None
        frame = self._frames.get(wire)
        if frame is None:
            self._delta(wire, "")
            frame = self._frames[wire]
        return frame[0], frame[1]

    def encode(self, ev: ir.Event) -> bytes:
        if self._done:
            return b""
        out = b""
        if not self._started:
            self._started = True
            out = self._chunk({"role": "assistant", "content": ""})
        if isinstance(ev, ir.TextDelta):
            if not ev.text:
                return out
            return out + self._delta("content", ev.text)
        if isinstance(ev, ir.ReasoningDelta):
            if not ev.text:
                return out
            self._thought.add(ev.index)
            return out + self._delta("reasoning_content", ev.text)
        if isinstance(ev, ir.ToolCallDelta):
            wire_index = self._calls.get(ev.index)
            if wire_index is None or not ev.arguments_fragment:
                return out
            return out + self._delta(wire_index, ev.arguments_fragment)
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

    def error(self, message: str, kind: ErrorKind = ErrorKind.API_ERROR) -> bytes:
        """The error chunk; no ``[DONE]`` follows, so the end cannot pass for success."""
        self._done = True
        return chat_error_event(kind, message)
