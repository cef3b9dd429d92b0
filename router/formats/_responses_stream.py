"""OpenAI Responses streaming: ``response.*`` events -> IR events and back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from router.errors import ErrorKind

from . import ir
from ._common import sse, sse_parts
from ._errors import kind_from_openai, responses_failed_error
from ._json import int_of
from ._responses_items import (
    FORMAT,
    ToolNames,
    call_item,
    client_reasoning,
    custom_input,
    message_item,
    pack_reasoning,
    reasoning_item,
    response_object,
    status_to_wire,
    stop_from_wire,
    text_part,
    usage_from_wire,
)
from ._stream_base import DecoderBase


class StreamDecoder(DecoderBase):
    """Responses SSE events -> IR events."""

    truncated = "upstream stream ended before response.completed"

    def __init__(self) -> None:
        super().__init__()
        self._items: dict[int, tuple[int, str]] = {}  # output_index -> (IR index, kind)
        self._texts: dict[tuple[int, int], int] = {}  # (output_index, content_index) -> IR index
        self._summary: dict[int, int] = {}  # output_index -> last summary_index seen
        self._args_seen: set[int] = set()
        self._has_calls = False

    def _event(self, event: str | None, payload: dict[str, Any]) -> list[ir.Event]:
        kind = str(payload.get("type") or event or "")
        oi = payload.get("output_index")
        if type(oi) is not int:
            oi = int_of(oi)
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            key = (oi, int_of(payload.get("content_index")))
            index = self._texts.get(key)
            if index is None:
                index = self._texts[key] = self._alloc()
            delta = payload.get("delta")
            if type(delta) is not str:
                delta = str(delta or "")
            return [ir.TextDelta(index, delta)] if delta else []
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._reasoning_delta(oi, payload)
        if kind == "response.created":
            resp = payload.get("response") or {}
            return [ir.StreamStart(str(resp.get("id") or ""), str(resp.get("model") or ""))]
        if kind == "response.output_item.added":
            return self._item_added(oi, payload.get("item") or {})
        if kind == "response.content_part.added":
            part = payload.get("part") or {}
            if part.get("type") in ("output_text", "refusal"):
                self._texts[(oi, int_of(payload.get("content_index")))] = self._alloc()
            return []
        if kind == "response.content_part.done":
            index = self._texts.pop((oi, int_of(payload.get("content_index"))), None)
            return [] if index is None else [ir.BlockEnd(index)]
        if kind in (
            "response.function_call_arguments.delta",
            "response.custom_tool_call_input.delta",
        ):
            return self._args_delta(oi, kind, str(payload.get("delta") or ""))
        if kind == "response.output_item.done":
            return self._item_done(oi, payload.get("item") or {})
        if kind in ("response.completed", "response.incomplete"):
            self._done = True
            resp = payload.get("response") or {}
            details = resp.get("incomplete_details") or {}
            out: list[ir.Event] = [ir.BlockEnd(i) for i in self._texts.values()]
            if isinstance(resp.get("usage"), dict):
                out.append(ir.UsageEvent(usage_from_wire(resp["usage"])))
            reason = stop_from_wire(resp.get("status"), details.get("reason"), self._has_calls)
            return out + [ir.Stop(reason)]
        if kind == "response.failed":
            self._done = True
            err = (payload.get("response") or {}).get("error") or {}
            message = str(err.get("message") or "upstream response failed")
            return [ir.StreamError(message, kind_from_openai("", str(err.get("code") or "")))]
        if kind == "error":
            self._done = True
            inner = payload.get("error")  # some send the Chat shape under "error"
            body: dict[str, Any] = inner if isinstance(inner, dict) else payload
            message = str(body.get("message") or "upstream error")
            etype = str(body.get("type") or "") if body is inner else ""
            return [ir.StreamError(message, kind_from_openai(etype, str(body.get("code") or "")))]
        return []

    def _item_added(self, oi: int, item: dict[str, Any]) -> list[ir.Event]:
        kind = item.get("type")
        if kind == "reasoning":
            self._items[oi] = (self._alloc(), "reasoning")
        elif kind in ("function_call", "custom_tool_call"):
            index = self._alloc()
            self._items[oi] = (index, str(kind))
            self._has_calls = True
            name = str(item.get("name") or "")
            if item.get("namespace"):
                name = f"{item['namespace']}__{name}"
            out: list[ir.Event] = [ir.ToolCallStart(index, str(item.get("call_id") or ""), name)]
            if kind == "custom_tool_call":
                out.append(ir.ToolCallDelta(index, '{"input":"'))
            return out
        return []

    def _reasoning_delta(self, oi: int, payload: dict[str, Any]) -> list[ir.Event]:
        if oi not in self._items:
            self._items[oi] = (self._alloc(), "reasoning")
        index = self._items[oi][0]
        delta = str(payload.get("delta") or "")
        summary = int_of(payload.get("summary_index"))
        previous = self._summary.get(oi)
        self._summary[oi] = summary
        if previous is not None and summary != previous:
            delta = "\n\n" + delta
        return [ir.ReasoningDelta(index, delta)] if delta else []

    def _args_delta(self, oi: int, kind: str, delta: str) -> list[ir.Event]:
        entry = self._items.get(oi)
        if entry is None or not delta:
            return []
        self._args_seen.add(oi)
        if kind == "response.custom_tool_call_input.delta":
            delta = orjson.dumps(delta).decode()[1:-1]
        return [ir.ToolCallDelta(entry[0], delta)]

    def _item_done(self, oi: int, item: dict[str, Any]) -> list[ir.Event]:
        entry = self._items.pop(oi, None)
        if entry is None:
            keys = [key for key in self._texts if key[0] == oi]
            return [ir.BlockEnd(self._texts.pop(key)) for key in keys]
        index, kind = entry
        out: list[ir.Event] = []
        if kind == "reasoning":
            if self._summary.pop(oi, None) is None:
                text = "\n\n".join(
                    str(s.get("text") or "")
                    for s in item.get("summary") or []
                    if isinstance(s, dict)
                )
                if text:
                    out.append(ir.ReasoningDelta(index, text))
            sig = item.get("encrypted_content")
            if isinstance(sig, str) and sig:
                value = pack_reasoning(item.get("id"), sig)
                out.append(ir.ReasoningSignature(index, value, False, FORMAT))
        elif kind == "function_call" and oi not in self._args_seen:
            out.append(ir.ToolCallDelta(index, str(item.get("arguments") or "")))
        elif kind == "custom_tool_call":
            if oi not in self._args_seen:
                out.append(
                    ir.ToolCallDelta(
                        index, orjson.dumps(str(item.get("input") or "")).decode()[1:-1]
                    )
                )
            out.append(ir.ToolCallDelta(index, '"}'))
        return out + [ir.BlockEnd(index)]


# block kind -> its delta event: (type, fields between the ids and the delta, fields after it)
_DELTAS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "text": ("response.output_text.delta", {"content_index": 0}, {"logprobs": []}),
    "reasoning": ("response.reasoning_summary_text.delta", {"summary_index": 0}, {}),
    "tool": ("response.function_call_arguments.delta", {}, {}),
}


class _Block:
    __slots__ = (
        "output_index",
        "kind",
        "item_id",
        "parts",
        "signature",
        "source",
        "call",
        "frame",
    )

    def __init__(self, output_index: int, kind: str, item_id: str) -> None:
        self.output_index = output_index
        self.kind = kind
        self.item_id = item_id
        self.parts: list[str] = []
        self.signature: str | None = None
        self.source: ir.Format | None = None
        self.call: ir.ToolCall | None = None
        self.frame: tuple[bytes, ...] | None = None  # its delta event, cut around the values


class StreamEncoder:
    """IR events -> Responses SSE for the client.

    ``tools`` (the request's IR tools) lets calls of namespaced or custom tools
    come back in their Responses shape.
    """

    def __init__(self, model: str, request_id: str, *, tools: Sequence[ir.Tool] = ()) -> None:
        self._model = model
        base = request_id or uuid.uuid4().hex
        self._id = f"resp_{base}"
        self._base = base
        self._created = int(time.time())
        self._names = ToolNames(tools)
        self._seq = 0
        self._started = False
        self._done = False
        self._blocks: dict[int, _Block] = {}
        self._output: list[dict[str, Any]] = []
        self._usage: ir.Usage | None = None

    def _ev(self, kind: str, body: dict[str, Any]) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **body}
        self._seq += 1
        return sse(kind, payload)

    def _delta(self, block: _Block, text: str) -> bytes:
        """The delta event of ``block``'s kind carrying ``text``."""
        frame = block.frame
        if frame is None:
            kind, before, after = _DELTAS[block.kind]
            ids = {"item_id": block.item_id, "output_index": block.output_index}
            frame = block.frame = sse_parts(
                kind,
                lambda seq, delta: {
                    "type": kind,
                    "sequence_number": seq,
                    **ids,
                    **before,
                    "delta": delta,
                    **after,
                },
                2,
            )
        head, mid, tail = frame
        seq = self._seq
        self._seq += 1
        return head + orjson.dumps(seq) + mid + orjson.dumps(text) + tail

    def _response(self, status: str, **kw: Any) -> dict[str, Any]:
        return response_object(
            self._id, self._model, self._created, status, list(self._output), **kw
        )

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._ev("response.created", {"response": self._response("in_progress")}) + self._ev(
            "response.in_progress", {"response": self._response("in_progress")}
        )

    def _open(
        self, index: int, kind: str, prefix: str, item: dict[str, Any] | None = None
    ) -> tuple[_Block, bytes]:
        oi = len(self._output)
        block = _Block(oi, kind, f"{prefix}_{self._base}_{oi}")
        self._blocks[index] = block
        self._output.append({})
        if item is None:
            item = (
                message_item(block.item_id, [], "in_progress")
                if kind == "text"
                else reasoning_item(block.item_id, "", None)
            )
        out = self._ev("response.output_item.added", {"output_index": oi, "item": item})
        if kind == "text":
            out += self._ev(
                "response.content_part.added",
                {
                    "item_id": block.item_id,
                    "output_index": oi,
                    "content_index": 0,
                    "part": text_part(""),
                },
            )
        return block, out

    def encode(self, ev: ir.Event) -> bytes:
        if self._done:
            return b""
        out = b"" if self._started else self._start()
        if isinstance(ev, ir.TextDelta | ir.ReasoningDelta):
            kind = "text" if isinstance(ev, ir.TextDelta) else "reasoning"
            block = self._blocks.get(ev.index)
            if block is None:
                block, opened = self._open(ev.index, kind, "msg" if kind == "text" else "rs")
                out += opened
            if not ev.text or block.kind != kind:
                return out
            if kind == "reasoning" and not block.parts:
                out += self._ev(
                    "response.reasoning_summary_part.added",
                    {
                        "item_id": block.item_id,
                        "output_index": block.output_index,
                        "summary_index": 0,
                        "part": {"type": "summary_text", "text": ""},
                    },
                )
            block.parts.append(ev.text)
            return out + self._delta(block, ev.text)
        if isinstance(ev, ir.ReasoningSignature):
            block = self._blocks.get(ev.index)
            if block is None:
                block, opened = self._open(ev.index, "reasoning", "rs")
                out += opened
            if not ev.redacted and block.kind == "reasoning":
                block.signature = (block.signature or "") + ev.signature
                block.source = ev.source
            return out
        if isinstance(ev, ir.ToolCallStart):
            call = ir.ToolCall(ev.id, ev.name, "")
            item = call_item("", call, self._names, "in_progress")
            kind = "custom" if item["type"] == "custom_tool_call" else "tool"
            oi = len(self._output)
            item["id"] = f"fc_{self._base}_{oi}"
            block, opened = self._open(ev.index, kind, "fc", item)
            block.call = call
            return out + opened
        if isinstance(ev, ir.ToolCallDelta):
            block = self._blocks.get(ev.index)
            if block is None or block.call is None or not ev.arguments_fragment:
                return out
            block.parts.append(ev.arguments_fragment)
            if block.kind == "tool":
                out += self._delta(block, ev.arguments_fragment)
            return out
        if isinstance(ev, ir.BlockEnd):
            block = self._blocks.pop(ev.index, None)
            return out + (self._close(block) if block is not None else b"")
        if isinstance(ev, ir.UsageEvent):
            self._usage = ev.usage
            return out
        if isinstance(ev, ir.Stop):
            for index in list(self._blocks):
                out += self._close(self._blocks.pop(index))
            self._done = True
            status, incomplete = status_to_wire(ev.reason)
            if status == "failed":
                error = {"code": "server_error", "message": "the model stopped with an error"}
                return out + self._ev(
                    "response.failed",
                    {"response": self._response("failed", usage=self._usage, error=error)},
                )
            resp = self._response(status, usage=self._usage or ir.Usage(), incomplete=incomplete)
            return out + self._ev(f"response.{status}", {"response": resp})
        if isinstance(ev, ir.StreamError):
            return out + self.error(ev.message, ev.kind)
        return out

    def _close(self, block: _Block) -> bytes:
        ids = {"item_id": block.item_id, "output_index": block.output_index}
        text = "".join(block.parts)
        out = b""
        if block.kind == "text":
            out += self._ev(
                "response.output_text.done",
                {**ids, "content_index": 0, "text": text, "logprobs": []},
            )
            out += self._ev(
                "response.content_part.done", {**ids, "content_index": 0, "part": text_part(text)}
            )
            item = message_item(block.item_id, [text])
        elif block.kind == "reasoning":
            if text:
                part = {"type": "summary_text", "text": text}
                out += self._ev(
                    "response.reasoning_summary_text.done",
                    {**ids, "summary_index": 0, "text": text},
                )
                out += self._ev(
                    "response.reasoning_summary_part.done",
                    {**ids, "summary_index": 0, "part": part},
                )
            thought = ir.Reasoning(text, block.signature, False, block.source)
            item = client_reasoning(block.item_id, thought)
            item["id"] = block.item_id  # the id announced when the item was added
        else:
            assert block.call is not None
            call = ir.ToolCall(block.call.id, block.call.name, text)
            item = call_item(block.item_id, call, self._names)
            if block.kind == "custom":
                value = custom_input(text)
                out += self._ev("response.custom_tool_call_input.delta", {**ids, "delta": value})
                out += self._ev("response.custom_tool_call_input.done", {**ids, "input": value})
            else:
                out += self._ev(
                    "response.function_call_arguments.done", {**ids, "arguments": item["arguments"]}
                )
        self._output[block.output_index] = item
        return out + self._ev(
            "response.output_item.done", {"output_index": block.output_index, "item": item}
        )

    def error(self, message: str, kind: ErrorKind = ErrorKind.API_ERROR) -> bytes:
        out = self._start()
        self._done = True
        error = responses_failed_error(kind, message)
        self._output = [item for item in self._output if item]
        return out + self._ev(
            "response.failed",
            {"response": self._response("failed", usage=self._usage, error=error)},
        )
