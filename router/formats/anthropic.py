"""Anthropic Messages <-> IR (requests, responses; streams in ``_anthropic_stream``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from . import ir
from ._anthropic_in import Calls, read_blocks, request_to_ir
from ._anthropic_stream import (
    StreamDecoder,
    StreamEncoder,
    stop_from_wire,
    stop_to_wire,
    usage_from_wire,
    usage_to_wire,
)
from ._common import (
    export_signature,
    json_mode_instruction,
    normalize_turns,
    replayable,
    thinking_budget,
)
from ._json import (
    args_object,
    num_or_int,
    obj,
    opt_obj,
    opt_str,
    safe_id,
    upstream_answer,
)

__all__ = [
    "StreamDecoder",
    "StreamEncoder",
    "request_from_ir",
    "request_to_ir",
    "response_from_ir",
    "response_to_ir",
]

FORMAT = ir.Format.ANTHROPIC
DEFAULT_MAX_TOKENS = 8192
_OPENER = "Continue."  # Anthropic wants a user turn first; used when the source had none

# --------------------------------------------------------------------------- blocks out


def _image_block(img: ir.Image) -> dict[str, Any]:
    kind = "image" if img.media_type.startswith("image/") else "document"
    if img.data is not None:
        return {
            "type": kind,
            "source": {"type": "base64", "media_type": img.media_type, "data": img.data},
        }
    return {"type": kind, "source": {"type": "url", "url": img.url or ""}}


def _reasoning_block(part: ir.Reasoning, signature: str) -> dict[str, Any]:
    if part.redacted:
        return {"type": "redacted_thinking", "data": signature}
    return {"type": "thinking", "thinking": part.text, "signature": signature}


def _block(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, ir.Image):
        return _image_block(part)
    if isinstance(part, ir.ToolCall):
        return {
            "type": "tool_use",
            "id": safe_id(part.id),
            "name": part.name,
            "input": args_object(part.arguments),
        }
    if isinstance(part, ir.ToolResult):
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": safe_id(part.call_id)}
        if len(part.content) == 1 and isinstance(part.content[0], ir.Text):
            block["content"] = part.content[0].text
        elif part.content:
            block["content"] = [
                {"type": "text", "text": c.text} if isinstance(c, ir.Text) else _image_block(c)
                for c in part.content
                if not (isinstance(c, ir.Text) and not c.text)
            ]
        if part.is_error:
            block["is_error"] = True
        return block
    if replayable(part, FORMAT):
        return _reasoning_block(part, part.signature or "")
    return None


def _strip_reasoning(messages: Sequence[ir.Message]) -> list[ir.Message]:
    out = []
    for m in messages:
        parts = tuple(
            p
            for p in m.content
            if not isinstance(p, ir.Reasoning)
            or (m.role is ir.Role.ASSISTANT and replayable(p, FORMAT))
        )
        out.append(ir.Message(m.role, parts))
    return out


def _thinking_fits(messages: Sequence[ir.Message]) -> bool:
    """With thinking on, the last assistant turn of a tool loop must open with
    its (signed) thinking block, or Anthropic answers 400."""
    for m in reversed(messages):
        if m.role is ir.Role.ASSISTANT:
            if not any(isinstance(p, ir.ToolCall) for p in m.content):
                return True
            return isinstance(m.content[0], ir.Reasoning)
    return True


def request_from_ir(req: ir.Request, model: str, stream: bool) -> dict[str, Any]:
    messages = normalize_turns(_strip_reasoning(req.messages), merge=True, system_as_user=True)
    out: dict[str, Any] = {"model": model}
    system = [{"type": "text", "text": t.text} for t in req.system if t.text]
    fmt = req.response_format
    if fmt is not None and fmt.type == "json_object":
        system.append({"type": "text", "text": json_mode_instruction(fmt)})
    if system:
        out["system"] = system
    wire_messages = []
    for i, m in enumerate(messages):
        blocks = [b for b in (_block(p) for p in m.content) if b is not None]
        if i == len(messages) - 1 and m.role is ir.Role.ASSISTANT and blocks:
            last = blocks[-1]  # a prefill may not end in whitespace
            if last.get("type") == "text":
                last["text"] = str(last["text"]).rstrip()
                if not last["text"]:
                    blocks.pop()
        if blocks:
            wire_messages.append({"role": m.role.value, "content": blocks})
    if not wire_messages or wire_messages[0]["role"] != "user":
        wire_messages.insert(0, {"role": "user", "content": [{"type": "text", "text": _OPENER}]})
    out["messages"] = wire_messages

    forced = req.tool_choice is not None and req.tool_choice.mode in ("required", "tool")
    t = req.thinking
    thinking_on = t is not None and t.enabled and not forced and _thinking_fits(messages)
    max_tokens = req.max_tokens or DEFAULT_MAX_TOKENS
    if thinking_on and t is not None:
        budget = max(1024, thinking_budget(t))
        if req.max_tokens is None:
            max_tokens = max(max_tokens, budget + DEFAULT_MAX_TOKENS // 2)
        budget = min(budget, max_tokens - 1)
        if budget >= 1024:
            out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        else:
            thinking_on = False
    elif t is not None and not t.enabled:
        out["thinking"] = {"type": "disabled"}
    out["max_tokens"] = max_tokens

    if req.temperature is not None and (not thinking_on or req.temperature == 1):
        out["temperature"] = num_or_int(min(max(req.temperature, 0.0), 1.0))
    if req.top_p is not None and (not thinking_on or req.top_p >= 0.95):
        out["top_p"] = num_or_int(req.top_p)
    if req.top_k is not None and not thinking_on:
        out["top_k"] = req.top_k
    if req.stop:
        out["stop_sequences"] = list(req.stop)
    if req.tools:
        out["tools"] = [_tool(tool) for tool in req.tools]
        choice = _choice_to_wire(req.tool_choice, req.parallel_tool_calls)
        if choice is not None:
            out["tool_choice"] = choice
    if fmt is not None and fmt.type == "json_schema" and fmt.schema is not None:
        out["output_config"] = {"format": {"type": "json_schema", "schema": fmt.schema}}
    if req.user:
        out["metadata"] = {"user_id": req.user}
    if stream:
        out["stream"] = True
    return out


def _tool(tool: ir.Tool) -> dict[str, Any]:
    schema = dict(tool.parameters)
    if schema.get("type") != "object":
        schema = {**schema, "type": "object"}
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["input_schema"] = schema
    return out


def _choice_to_wire(choice: ir.ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    wire: dict[str, Any] | None = None
    if choice is not None:
        kind = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[choice.mode]
        wire = {"type": kind}
        if choice.mode == "tool":
            wire["name"] = choice.name or ""
    if parallel is False:
        wire = wire or {"type": "auto"}
        if wire["type"] != "none":
            wire["disable_parallel_tool_use"] = True
    return wire


# --------------------------------------------------------------------------- responses


@upstream_answer
def response_to_ir(body: Mapping[str, Any]) -> ir.Response:
    b = obj(body, "body")
    content = read_blocks(b.get("content") or [], "content", Calls())
    return ir.Response(
        id=opt_str(b, "id", "") or "",
        model=opt_str(b, "model", "") or "",
        content=content,
        stop_reason=stop_from_wire(opt_str(b, "stop_reason", "")),
        usage=usage_from_wire(opt_obj(b, "usage", "") or {}),
        stop_sequence=opt_str(b, "stop_sequence", ""),
    )


def response_from_ir(resp: ir.Response, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in resp.content:
        if isinstance(part, ir.Reasoning):
            sig = (
                export_signature(part.signature or "", part.source, FORMAT)
                if part.signature
                else ""
            )
            content.append(_reasoning_block(part, sig))
        elif not isinstance(part, ir.ToolResult):
            block = _block(part)
            if block is not None:
                content.append(block)
    return {
        "id": resp.id or f"msg_{uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_to_wire(resp.stop_reason),
        "stop_sequence": resp.stop_sequence,
        "usage": usage_to_wire(resp.usage),
    }
