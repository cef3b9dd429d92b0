"""Anthropic Messages <-> IR (requests, responses; streams in ``_anthropic_stream``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from . import ir
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
    fill_result_names,
    import_signature,
    json_mode_instruction,
    normalize_turns,
    replayable,
    thinking_budget,
)
from ._json import (
    Raw,
    args_object,
    dumps,
    guess_media_type,
    num_or_int,
    obj,
    objects,
    opt_arr,
    opt_bool,
    opt_int,
    opt_num,
    opt_obj,
    opt_objects,
    opt_str,
    req_str,
    safe_id,
    schema_obj,
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
_BILLING_PREFIX = "x-anthropic-billing-header:"
_OPENER = "Continue."  # Anthropic wants a user turn first; used when the source had none

# --------------------------------------------------------------------------- blocks in


def _image(block: Raw, path: str) -> ir.ContentPart:
    source = obj(block.get("source"), f"{path}.source")
    kind = source.get("type")
    if kind == "base64":
        media = req_str(source, "media_type", f"{path}.source.")
        return ir.Image(media, data=req_str(source, "data", f"{path}.source."))
    if kind == "url":
        url = req_str(source, "url", f"{path}.source.")
        fallback = "application/pdf" if block.get("type") == "document" else guess_media_type(url)
        return ir.Image(opt_str(source, "media_type", f"{path}.source.") or fallback, url=url)
    if kind == "text" and block.get("type") == "document":
        return ir.Text(req_str(source, "data", f"{path}.source."))
    raise ir.TranslationError(f"{path}.source.type", f"source type {kind!r} cannot be translated")


def _content_part(block: Raw, path: str) -> ir.ContentPart | None:
    """A text, image or document block; None for the other kinds."""
    kind = block.get("type")
    if kind == "text":
        return ir.Text(req_str(block, "text", path + "."))
    if kind in ("image", "document"):
        return _image(block, path)
    return None


def _result_content(value: object, path: str) -> tuple[ir.ContentPart, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (ir.Text(value),)
    parts = (_content_part(block, p) for p, block in objects(value, path))
    return tuple(part for part in parts if part is not None)


def _blocks(value: object, path: str) -> tuple[ir.Part, ...]:
    if isinstance(value, str):
        return (ir.Text(value),)
    out: list[ir.Part] = []
    for p, block in objects(value, path):
        part = _content_part(block, p)
        if part is not None:
            out.append(part)
            continue
        kind = block.get("type")
        if kind == "tool_use":
            out.append(
                ir.ToolCall(
                    req_str(block, "id", p + "."),
                    req_str(block, "name", p + "."),
                    dumps(block.get("input") or {}),
                )
            )
        elif kind == "tool_result":
            out.append(
                ir.ToolResult(
                    req_str(block, "tool_use_id", p + "."),
                    "",
                    _result_content(block.get("content"), p + ".content"),
                    bool(opt_bool(block, "is_error", p + ".")),
                )
            )
        elif kind == "thinking":
            raw_sig = opt_str(block, "signature", p + ".") or ""
            sig, source = import_signature(raw_sig, FORMAT)
            text = opt_str(block, "thinking", p + ".") or ""
            out.append(ir.Reasoning(text, sig or None, False, source))
        elif kind == "redacted_thinking":
            sig, source = import_signature(req_str(block, "data", p + "."), FORMAT)
            out.append(ir.Reasoning("", sig, True, source))
        # server tool blocks, containers, search results...: not translatable, dropped
    return tuple(out)


def _system(value: object) -> tuple[ir.Text, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (ir.Text(value),) if value else ()
    out = []
    for p, block in objects(value, "system"):
        text = req_str(block, "text", p + ".")
        if text and not text.startswith(_BILLING_PREFIX):
            out.append(ir.Text(text))
    return tuple(out)


def _tools(body: Raw) -> tuple[ir.Tool, ...]:
    out = []
    for p, tool in opt_objects(body, "tools", ""):
        if tool.get("type") not in (None, "custom"):
            continue  # server / built-in tools (web_search_*, bash_*, ...) cannot move
        schema = tool.get("input_schema")
        out.append(
            ir.Tool(
                req_str(tool, "name", p + "."),
                opt_str(tool, "description", p + ".") or "",
                schema_obj(schema, p + ".input_schema")
                if schema is not None
                else {"type": "object"},
                opt_bool(tool, "strict", p + "."),
            )
        )
    return tuple(out)


def _tool_choice(body: Raw) -> tuple[ir.ToolChoice | None, bool | None]:
    choice = opt_obj(body, "tool_choice", "")
    if choice is None:
        return None, None
    kind = req_str(choice, "type", "tool_choice.")
    parallel = False if opt_bool(choice, "disable_parallel_tool_use", "tool_choice.") else None
    if kind == "auto":
        return ir.ToolChoice("auto"), parallel
    if kind == "any":
        return ir.ToolChoice("required"), parallel
    if kind == "none":
        return ir.ToolChoice("none"), parallel
    if kind == "tool":
        return ir.ToolChoice("tool", req_str(choice, "name", "tool_choice.")), parallel
    raise ir.TranslationError("tool_choice.type", f"unknown tool_choice type {kind!r}")


def _thinking(body: Raw) -> ir.Thinking | None:
    cfg = opt_obj(body, "thinking", "")
    output = opt_obj(body, "output_config", "") or {}
    effort = opt_str(output, "effort", "output_config.")
    if cfg is None:
        return ir.Thinking(effort=effort) if effort else None
    kind = cfg.get("type")
    shown = cfg.get("display") != "omitted"
    if kind == "disabled":
        return ir.Thinking(enabled=False)
    if kind == "enabled":
        budget = opt_int(cfg, "budget_tokens", "thinking.")
        return ir.Thinking(True, budget, effort, shown)
    return ir.Thinking(True, None, effort, shown)  # adaptive


def _response_format(body: Raw) -> ir.ResponseFormat | None:
    output = opt_obj(body, "output_config", "") or {}
    fmt = output.get("format") or body.get("output_format")
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema")
    return ir.ResponseFormat("json_schema", schema_obj(schema, "output_config.format.schema"))


def request_to_ir(body: Mapping[str, Any]) -> ir.Request:
    b = obj(body, "body")
    messages = []
    for p, m in objects(b.get("messages"), "messages"):
        role = req_str(m, "role", p + ".")
        if role not in ("user", "assistant"):
            raise ir.TranslationError(p + ".role", "expected 'user' or 'assistant'")
        if "content" not in m:
            raise ir.TranslationError(p + ".content", "required")
        messages.append(ir.Message(ir.Role(role), _blocks(m["content"], p + ".content")))
    choice, parallel = _tool_choice(b)
    metadata = opt_obj(b, "metadata", "") or {}
    stop = tuple(str(s) for s in opt_arr(b, "stop_sequences", ""))
    return ir.Request(
        messages=fill_result_names(messages),
        system=_system(b.get("system")),
        tools=_tools(b),
        tool_choice=choice,
        parallel_tool_calls=parallel,
        temperature=opt_num(b, "temperature", ""),
        top_p=opt_num(b, "top_p", ""),
        top_k=opt_int(b, "top_k", ""),
        max_tokens=opt_int(b, "max_tokens", ""),
        stop=stop,
        response_format=_response_format(b),
        thinking=_thinking(b),
        stream=bool(opt_bool(b, "stream", "")),
        user=opt_str(metadata, "user_id", "metadata."),
    )


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
    content = _blocks(b.get("content") or [], "content")
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
