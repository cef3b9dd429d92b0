"""Anthropic Messages streaming: upstream SSE -> IR events, IR events -> client SSE."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from router.errors import ErrorKind

from . import ir
from ._common import export_signature, sse, sse_parts
from ._errors import anthropic_error_event, kind_from_anthropic
from ._json import int_of, safe_id
from ._stream_base import DecoderBase, TextCut

FORMAT = ir.Format.ANTHROPIC

_STOP_IN = {
    "end_turn": ir.StopReason.END_TURN,
    "max_tokens": ir.StopReason.MAX_TOKENS,
    "stop_sequence": ir.StopReason.STOP_SEQUENCE,
    "tool_use": ir.StopReason.TOOL_USE,
    "refusal": ir.StopReason.CONTENT_FILTER,
    "pause_turn": ir.StopReason.END_TURN,
    "model_context_window_exceeded": ir.StopReason.MAX_TOKENS,
}
_STOP_OUT = {
    ir.StopReason.END_TURN: "end_turn",
    ir.StopReason.MAX_TOKENS: "max_tokens",
    ir.StopReason.STOP_SEQUENCE: "stop_sequence",
    ir.StopReason.TOOL_USE: "tool_use",
    ir.StopReason.CONTENT_FILTER: "refusal",
    ir.StopReason.ERROR: "end_turn",
}


def stop_from_wire(reason: str | None) -> ir.StopReason:
    return _STOP_IN.get(reason or "end_turn", ir.StopReason.END_TURN)


def stop_to_wire(reason: ir.StopReason) -> str:
    return _STOP_OUT[reason]


def usage_from_wire(u: Mapping[str, Any]) -> ir.Usage:
    cached = int_of(u.get("cache_read_input_tokens"))
    created = int_of(u.get("cache_creation_input_tokens"))
    return ir.Usage(
        input_tokens=int_of(u.get("input_tokens")) + cached + created,
        output_tokens=int_of(u.get("output_tokens")),
        cached_input_tokens=cached,
        cache_creation_input_tokens=created,
    )


def usage_to_wire(u: ir.Usage) -> dict[str, int]:
    fresh = max(u.input_tokens - u.cached_input_tokens - u.cache_creation_input_tokens, 0)
    return {
        "input_tokens": fresh,
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_creation_input_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
    }


class StreamDecoder(DecoderBase):
    """Anthropic SSE events -> IR events (blocks keep the upstream's indexes)."""

    truncated = "upstream stream ended before message_stop"

    def __init__(self) -> None:
        super().__init__()
        self._skipped: set[int] = set()
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._stop_sequence: str | None = None
        self._cut = TextCut()

    def _cut_open(self, index: int, tool: bool) -> bool:
        return index not in self._skipped

    def _event(self, event: str | None, payload: dict[str, Any]) -> list[ir.Event]:
        kind = payload.get("type") or event
        if kind == "content_block_delta":  # nearly every event: first
            index = payload.get("index")
            if type(index) is not int:
                index = int_of(index)
            if index in self._skipped:
                return []
            return self._delta(index, payload.get("delta") or {})
        if kind == "message_start":
            msg = payload.get("message") or {}
            self._usage.update(msg.get("usage") or {})
            return [ir.StreamStart(str(msg.get("id") or ""), str(msg.get("model") or ""))]
        if kind == "content_block_start":
            return self._block_start(
                int_of(payload.get("index")), payload.get("content_block") or {}
            )
        if kind == "content_block_stop":
            index = int_of(payload.get("index"))
            return [] if index in self._skipped else [ir.BlockEnd(index)]
        if kind == "message_delta":
            delta = payload.get("delta") or {}
            self._stop_reason = delta.get("stop_reason") or self._stop_reason
            self._stop_sequence = delta.get("stop_sequence") or self._stop_sequence
            usage = payload.get("usage") or {}
            self._usage.update({k: v for k, v in usage.items() if v is not None})
            return []
        if kind == "message_stop":
            stop = ir.Stop(stop_from_wire(self._stop_reason), self._stop_sequence)
            return self._stop(usage_from_wire(self._usage), stop)
        if kind == "error":
            self._done = True
            err = payload.get("error") or {}
            return [
                ir.StreamError(
                    str(err.get("message") or "upstream error"),
                    kind_from_anthropic(str(err.get("type") or "")),
                )
            ]
        return []  # ping and unknown events

    def _block_start(self, index: int, block: dict[str, Any]) -> list[ir.Event]:
        kind = block.get("type")
        if kind == "text":
            text = str(block.get("text") or "")
            return [ir.TextDelta(index, text)] if text else []
        if kind == "thinking":
            text = str(block.get("thinking") or "")
            out: list[ir.Event] = [ir.ReasoningDelta(index, text)] if text else []
            if block.get("signature"):
                out.append(ir.ReasoningSignature(index, str(block["signature"]), False, FORMAT))
            return out
        if kind == "redacted_thinking":
            return [ir.ReasoningSignature(index, str(block.get("data") or ""), True, FORMAT)]
        if kind == "tool_use":
            events: list[ir.Event] = [
                ir.ToolCallStart(index, str(block.get("id") or ""), str(block.get("name") or ""))
            ]
            if block.get("input"):
                events.append(ir.ToolCallDelta(index, orjson.dumps(block["input"]).decode()))
            return events
        self._skipped.add(index)  # server tool use / results: not translatable
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[ir.Event]:
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [ir.TextDelta(index, text if type(text) is str else str(text or ""))]
        if kind == "thinking_delta":
            text = delta.get("thinking")
            return [ir.ReasoningDelta(index, text if type(text) is str else str(text or ""))]
        if kind == "signature_delta":
            return [ir.ReasoningSignature(index, str(delta.get("signature") or ""), False, FORMAT)]
        if kind == "input_json_delta":
            frag = str(delta.get("partial_json") or "")
            return [ir.ToolCallDelta(index, frag)] if frag else []
        return []


class StreamEncoder:
    """IR events -> Anthropic SSE for the client."""

    def __init__(self, model: str, request_id: str) -> None:
        self._model = model
        self._id = f"msg_{request_id or uuid.uuid4().hex}"
        self._started = False
        self._done = False
        self._index: dict[int, int] = {}  # IR index -> wire index
        self._kind: dict[int, str] = {}
        self._open: int | None = None
        self._frames: dict[str, tuple[bytes, ...]] = {}  # delta type -> frame of the open block
        self._usage = ir.Usage()

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return sse("message_start", {"type": "message_start", "message": message})

    def _close_open(self) -> bytes:
        if self._open is None:
            return b""
        wire = self._index[self._open]
        self._open = None
        return sse("content_block_stop", {"type": "content_block_stop", "index": wire})

    def _open_block(self, index: int, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close_open()
        wire = len(self._index)
        self._index[index] = wire
        self._kind[index] = kind
        self._open = index
        self._frames.clear()
        return out + sse(
            "content_block_start",
            {"type": "content_block_start", "index": wire, "content_block": block},
        )

    def _delta(self, kind: str, key: str, value: str) -> bytes:
        """A delta ``{"type": kind, key: value}`` of the open block."""
        frame = self._frames.get(kind)
        if frame is None:
            assert self._open is not None
            wire = self._index[self._open]
            frame = self._frames[kind] = sse_parts(
                "content_block_delta",
                lambda v: {
                    "type": "content_block_delta",
                    "index": wire,
                    "delta": {"type": kind, key: v},
                },
            )
        head, tail = frame
        return head + orjson.dumps(value) + tail

    def text_frame(self, index: int) -> tuple[bytes, bytes] | None:
        """``(head, tail)``: a non-empty ``TextDelta`` of block ``index`` encodes, right
        now, to ``head + orjson.dumps(text) + tail`` and changes nothing here (so until
        another event is encoded); None when it would do anything else."""
        if self._done or not self._started or self._open != index or index not in self._index:
            return None
        if self._kind[index] != "text":
            return None
        frame = self._frames.get("text_delta")
        if frame is None:
            self._delta("text_delta", "text", "")
            frame = self._frames["text_delta"]
        return frame[0], frame[1]

    def args_frame(self, index: int) -> tuple[bytes, bytes] | None:
        """``(head, tail)``: a non-empty ``ToolCallDelta`` of block ``index`` encodes, right
        now, to ``head + orjson.dumps(fragment) + tail`` and changes nothing here; None
        when it would do anything else."""
        if self._done or not self._started or self._open != index or index not in self._index:
            return None
        frame = self._frames.get("input_json_delta")
        if frame is None:
            self._delta("input_json_delta", "partial_json", "")
            frame = self._frames["input_json_delta"]
        return frame[0], frame[1]

    def encode(self, ev: ir.Event) -> bytes:
        """One IR event -> SSE; events for a block already closed are dropped."""
        if self._done:
            return b""
        out = b"" if self._started else self._start()
        if isinstance(ev, ir.StreamStart):
            return out
        if isinstance(ev, ir.TextDelta):
            if ev.index not in self._index:
                out += self._open_block(ev.index, "text", {"type": "text", "text": ""})
            if self._open == ev.index and ev.text:
                out += self._delta("text_delta", "text", ev.text)
            return out
        if isinstance(ev, ir.ReasoningDelta):
            if ev.index not in self._index:
                out += self._open_block(
                    ev.index, "thinking", {"type": "thinking", "thinking": "", "signature": ""}
                )
            if self._open == ev.index and ev.text:
                out += self._delta("thinking_delta", "thinking", ev.text)
            return out
        if isinstance(ev, ir.ReasoningSignature):
            sig = export_signature(ev.signature, ev.source, FORMAT)
            if ev.redacted and ev.index not in self._index:
                return out + self._open_block(
                    ev.index, "redacted", {"type": "redacted_thinking", "data": sig}
                )
            if ev.index not in self._index:
                out += self._open_block(
                    ev.index, "thinking", {"type": "thinking", "thinking": "", "signature": ""}
                )
            if self._open == ev.index and self._kind[ev.index] == "thinking":
                out += self._delta("signature_delta", "signature", sig)
            return out
        if isinstance(ev, ir.ToolCallStart):
            block = {"type": "tool_use", "id": safe_id(ev.id), "name": ev.name, "input": {}}
            return out + self._open_block(ev.index, "tool", block)
        if isinstance(ev, ir.ToolCallDelta):
            if self._open == ev.index and ev.arguments_fragment:
                out += self._delta("input_json_delta", "partial_json", ev.arguments_fragment)
            return out
        if isinstance(ev, ir.BlockEnd):
            if self._open == ev.index:
                out += self._close_open()
            return out
        if isinstance(ev, ir.UsageEvent):
            self._usage = ev.usage
            return out
        if isinstance(ev, ir.Stop):
            self._done = True
            out += self._close_open()
            out += sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": stop_to_wire(ev.reason),
                        "stop_sequence": ev.stop_sequence,
                    },
                    "usage": usage_to_wire(self._usage),
                },
            )
            return out + sse("message_stop", {"type": "message_stop"})
        if isinstance(ev, ir.StreamError):
            return out + self.error(ev.message, ev.kind)
        return out

    def error(self, message: str, kind: ErrorKind = ErrorKind.API_ERROR) -> bytes:
        self._done = True
        return anthropic_error_event(kind, message)
