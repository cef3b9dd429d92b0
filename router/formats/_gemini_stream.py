"""Gemini streamGenerateContent (``alt=sse``): chunks -> IR events and back.

Gemini SSE has no terminator: the decoder remembers the last ``finishReason``
and usage, and emits the stop when the upstream ends (:meth:`finish`).
The encoder holds a tool call until its block ends, because a Gemini
``functionCall`` carries its ``args`` whole.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from router.errors import ErrorKind

from . import ir
from ._common import export_signature, sse, sse_parts
from ._errors import gemini_error, kind_from_gemini
from ._gemini_parts import (
    FORMAT,
    signature_of,
    stop_from_wire,
    stop_to_wire,
    usage_from_wire,
    usage_to_wire,
)
from ._json import args_object, args_text, int_of, safe_id
from ._stream_base import DecoderBase


class StreamDecoder(DecoderBase):
    """Gemini ``GenerateContentResponse`` chunks -> IR events."""

    not_json = "malformed chunk from upstream"
    truncated = "upstream stream ended without a finishReason"

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._finish: str | None = None
        self._usage: ir.Usage | None = None
        self._calls = 0
        self._base = uuid.uuid4().hex[:16]

    def _other(self, event: str | None, payload: object) -> list[ir.Event]:
        if isinstance(payload, list):  # a JSON-array stream (no alt=sse): take the items
            return [ev for item in payload for ev in self.feed(event, orjson.dumps(item))]
        return []

    def _event(self, event: str | None, chunk: dict[str, Any]) -> list[ir.Event]:
        err = chunk.get("error")
        if isinstance(err, dict):
            self._done = True
            kind = kind_from_gemini(str(err.get("status") or ""), int_of(err.get("code")))
            return [ir.StreamError(str(err.get("message") or "upstream error"), kind)]
        out: list[ir.Event] = []
        if not self._started:
            self._started = True
            rid = str(chunk.get("responseId") or "")
            if rid:
                self._base = safe_id(rid)
            out.append(ir.StreamStart(rid, str(chunk.get("modelVersion") or "")))
        usage = chunk.get("usageMetadata")
        if isinstance(usage, dict):
            self._usage = usage_from_wire(usage)
        candidates = chunk.get("candidates") or []
        if not candidates and isinstance(chunk.get("promptFeedback"), dict):
            if chunk["promptFeedback"].get("blockReason"):
                self._finish = "SAFETY"
        for cand in candidates[:1]:
            if not isinstance(cand, dict):
                continue
            content = cand.get("content") or {}
            for part in content.get("parts") or ():
                if isinstance(part, dict):
                    self._part(part, out)
            if cand.get("finishReason"):
                self._finish = str(cand["finishReason"])
                out += self._close()
        return out

    def _part(self, part: dict[str, Any], out: list[ir.Event]) -> None:
        sig = signature_of(part)
        if part.get("thought") is True:
            index = self._into("reasoning", out)
            text = str(part.get("text") or "")
            if text:
                out.append(ir.ReasoningDelta(index, text))
            if sig is not None:
                out.append(ir.ReasoningSignature(index, sig[0], False, sig[1]))
                out += self._close()
            return
        if sig is not None:
            events, index = self._new("reasoning")
            out += events + [ir.ReasoningSignature(index, sig[0], False, sig[1])]
            out += self._close()
        call = part.get("functionCall")
        if isinstance(call, dict):
            events, index = self._new("tool")
            given = call.get("id")
            call_id = f"call_{self._base}_{self._calls}"
            if isinstance(given, str) and given:
                call_id = safe_id(given)
            self._calls += 1
            out += events
            out.append(ir.ToolCallStart(index, call_id, str(call.get("name") or "")))
            out.append(ir.ToolCallDelta(index, args_text(call.get("args"))))
            out += self._close()
            return
        value = part.get("text")
        if isinstance(value, str) and value:
            out.append(ir.TextDelta(self._into("text", out), value))

    def _at_close(self) -> list[ir.Event] | None:
        if self._finish is None:
            return None
        return self._stop(self._usage, ir.Stop(stop_from_wire(self._finish, self._calls > 0)))


class StreamEncoder:
    """IR events -> Gemini SSE chunks for the client."""

    def __init__(self, model: str, request_id: str) -> None:
        self._model = model
        self._id = request_id or uuid.uuid4().hex
        self._done = False
        self._thought_text: set[int] = set()
        self._pending_sig: str | None = None
        self._calls: dict[int, tuple[str, str, list[str]]] = {}
        self._usage: ir.Usage | None = None
        self._frames: dict[bool, tuple[bytes, ...]] = {}  # see _text

    def _body(self, parts: list[dict[str, Any]], finish: str | None = None) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish is not None:
            cand["finishReason"] = finish
        body: dict[str, Any] = {"candidates": [cand]}
        if finish is not None:
            body["usageMetadata"] = usage_to_wire(self._usage or ir.Usage())
        body["modelVersion"] = self._model
        body["responseId"] = self._id
        return body

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        return sse(None, self._body(parts, finish))

    def _text(self, text: str, thought: bool) -> bytes:
        """The chunk of one text part (a thought or not): the frequent chunks, each
        framed once (``sse_parts``)."""
        frame = self._frames.get(thought)
        if frame is None:

            def build(value: str) -> dict[str, Any]:
                return self._body(
                    [{"text": value, "thought": True} if thought else {"text": value}]
                )

            frame = self._frames[thought] = sse_parts(None, build)
        head, tail = frame
        return head + orjson.dumps(text) + tail

    def _with_sig(self, part: dict[str, Any]) -> dict[str, Any]:
        if self._pending_sig is not None:
            part["thoughtSignature"] = self._pending_sig
            self._pending_sig = None
        return part

    def text_frame(self, index: int) -> tuple[bytes, bytes] | None:
        """``(head, tail)``: a non-empty ``TextDelta`` (of any block) encodes, right now,
        to ``head + orjson.dumps(text) + tail`` and changes nothing here; None when it
        would do anything else."""
        if self._done or self._pending_sig is not None:
            return None
        frame = self._frames.get(False)
        if frame is None:
            self._text("", False)
            frame = self._frames[False]
        return frame[0], frame[1]

    def encode(self, ev: ir.Event) -> bytes:
        if self._done:
            return b""
        if isinstance(ev, ir.TextDelta):
            if not ev.text:
                return b""
            if self._pending_sig is not None:
                return self._chunk([self._with_sig({"text": ev.text})])
            return self._text(ev.text, False)
        if isinstance(ev, ir.ReasoningDelta):
            if not ev.text:
                return b""
            self._thought_text.add(ev.index)
            return self._text(ev.text, True)
        if isinstance(ev, ir.ReasoningSignature):
            if ev.redacted:
                return b""
            sig = export_signature(ev.signature, ev.source, FORMAT)
            if ev.index in self._thought_text:
                return self._chunk([{"text": "", "thought": True, "thoughtSignature": sig}])
            self._pending_sig = sig
            return b""
        if isinstance(ev, ir.ToolCallStart):
            self._calls[ev.index] = (ev.id, ev.name, [])
            return b""
        if isinstance(ev, ir.ToolCallDelta):
            call = self._calls.get(ev.index)
            if call is not None:
                call[2].append(ev.arguments_fragment)
            return b""
        if isinstance(ev, ir.BlockEnd):
            held = self._calls.pop(ev.index, None)
            if held is None:
                return b""
            call_id, name, frags = held
            fc = {"id": safe_id(call_id), "name": name, "args": args_object("".join(frags))}
            return self._chunk([self._with_sig({"functionCall": fc})])
        if isinstance(ev, ir.UsageEvent):
            self._usage = ev.usage
            return b""
        if isinstance(ev, ir.Stop):
            out = b""
            for index in list(self._calls):  # calls never closed: flush them
                out += self.encode(ir.BlockEnd(index))
            self._done = True
            parts = [self._with_sig({"text": ""})] if self._pending_sig is not None else []
            return out + self._chunk(parts, stop_to_wire(ev.reason))
        if isinstance(ev, ir.StreamError):
            return self.error(ev.message, ev.kind)
        return b""

    def error(self, message: str, kind: ErrorKind = ErrorKind.API_ERROR) -> bytes:
        self._done = True
        return sse(None, gemini_error(kind, message))
