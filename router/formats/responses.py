"""OpenAI Responses <-> IR (requests, responses; streams in ``_responses_stream``).

Requests out are stateless (``store: false``) and ask for
``reasoning.encrypted_content`` whenever reasoning is on, so reasoning can be
replayed on the next turn without server-side state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from . import ir
from ._common import (
    fill_result_names,
    joined_system,
    normalize_turns,
    put_present,
    replayable,
    response_format_in,
    response_format_out,
    result_text,
    thinking_effort,
    tool_choice_mode,
)
from ._json import (
    Raw,
    data_url,
    obj,
    objects,
    opt_bool,
    opt_int,
    opt_num,
    opt_obj,
    opt_objects,
    opt_str,
    req_str,
    schema_obj,
    upstream_answer,
)
from ._responses_input import Builder
from ._responses_items import (
    FORMAT,
    ToolNames,
    custom_input,
    output_items,
    response_object,
    status_to_wire,
    stop_from_wire,
    unpack_reasoning,
    usage_from_wire,
)
from ._responses_stream import StreamDecoder, StreamEncoder

__all__ = [
    "StreamDecoder",
    "StreamEncoder",
    "request_from_ir",
    "request_to_ir",
    "response_from_ir",
    "response_to_ir",
]


def _custom_schema() -> ir.JSONObject:
    """How a free-form (``custom``) tool is described to other formats."""
    return {
        "type": "object",
        "properties": {"input": {"type": "string", "description": "The raw input of the tool."}},
        "required": ["input"],
    }


# --------------------------------------------------------------------------- request in


def _tools(body: Raw) -> tuple[ir.Tool, ...]:
    out: list[ir.Tool] = []

    def one(tool: Raw, path: str, namespace: str | None) -> None:
        kind = tool.get("type")
        if kind not in ("function", "custom"):
            return  # web_search, file_search, mcp, ...: not translatable, dropped
        name = req_str(tool, "name", path + ".")
        flat = f"{namespace}__{name}" if namespace else name
        desc = opt_str(tool, "description", path + ".") or ""
        if kind == "function":
            params = tool.get("parameters")
            schema: ir.JSONObject = {"type": "object", "properties": {}}
            if params is not None:
                schema = schema_obj(params, path + ".parameters")
            out.append(ir.Tool(flat, desc, schema, opt_bool(tool, "strict", path + "."), namespace))
        elif kind == "custom":
            out.append(ir.Tool(flat, desc, _custom_schema(), None, namespace, "custom"))

    for p, tool in opt_objects(body, "tools", ""):
        if tool.get("type") == "namespace":
            ns = req_str(tool, "name", p + ".")
            for inner_path, inner in opt_objects(tool, "tools", p + "."):
                one(inner, inner_path, ns)
        else:
            one(tool, p, None)
    return tuple(out)


def _tool_choice(body: Raw) -> ir.ToolChoice | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if isinstance(choice, str):
        return tool_choice_mode(choice)
    c = obj(choice, "tool_choice")
    if c.get("type") in ("function", "custom"):
        return ir.ToolChoice("tool", req_str(c, "name", "tool_choice."))
    if c.get("type") == "allowed_tools":
        return ir.ToolChoice("required" if c.get("mode") == "required" else "auto")
    return ir.ToolChoice("auto")


def _text_format(body: Raw) -> ir.ResponseFormat | None:
    text = opt_obj(body, "text", "") or {}
    fmt = opt_obj(text, "format", "text.")
    return None if fmt is None else response_format_in(fmt, "text.format", None)


def request_to_ir(body: Mapping[str, Any]) -> ir.Request:
    b = obj(body, "body")
    for key in ("previous_response_id", "conversation"):
        if b.get(key):
            raise ir.TranslationError(key, "stored conversation state cannot be translated")
    builder = Builder()
    instructions = b.get("instructions")
    if isinstance(instructions, str) and instructions:
        builder.system.append(ir.Text(instructions))
    raw_input = b.get("input")
    if isinstance(raw_input, str):
        builder.messages.append(ir.Message(ir.Role.USER, (ir.Text(raw_input),)))
    else:
        for p, item in objects(raw_input if raw_input is not None else [], "input"):
            builder.item(item, p)
    reasoning = opt_obj(b, "reasoning", "")
    thinking = None
    if reasoning is not None:
        effort = opt_str(reasoning, "effort", "reasoning.")
        summary = reasoning.get("summary") or reasoning.get("generate_summary")
        if effort == "none":
            thinking = ir.Thinking(enabled=False)
        elif effort is not None or summary:
            thinking = ir.Thinking(True, None, effort, bool(summary) and summary != "none")
    metadata = opt_obj(b, "metadata", "") or {}
    return ir.Request(
        messages=fill_result_names(builder.messages),
        system=tuple(builder.system),
        tools=_tools(b),
        tool_choice=_tool_choice(b),
        parallel_tool_calls=opt_bool(b, "parallel_tool_calls", ""),
        temperature=opt_num(b, "temperature", ""),
        top_p=opt_num(b, "top_p", ""),
        max_tokens=opt_int(b, "max_output_tokens", ""),
        response_format=_text_format(b),
        thinking=thinking,
        stream=bool(opt_bool(b, "stream", "")),
        user=opt_str(b, "user", "") or opt_str(b, "safety_identifier", ""),
        metadata={str(k): str(v) for k, v in metadata.items()},
    )


# --------------------------------------------------------------------------- request out


def _wire_part(part: ir.ContentPart) -> dict[str, Any]:
    if isinstance(part, ir.Text):
        return {"type": "input_text", "text": part.text}
    url = data_url(part.media_type, part.data) if part.data is not None else part.url or ""
    if part.media_type.startswith("image/"):
        return {"type": "input_image", "image_url": url, "detail": "auto"}
    if part.data is not None:
        return {"type": "input_file", "file_data": url, "filename": "document.pdf"}
    return {"type": "input_file", "file_url": url}


def _items(messages: list[ir.Message], names: ToolNames) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for m in messages:
        if m.role is ir.Role.SYSTEM:
            content = [_wire_part(p) for p in m.content if isinstance(p, ir.Text)]
            items.append({"type": "message", "role": "developer", "content": content})
        elif m.role is ir.Role.USER:
            rest: list[dict[str, Any]] = []
            for p in m.content:
                if isinstance(p, ir.ToolResult):
                    _, _, kind = names.split(p.name)
                    images = [c for c in p.content if isinstance(c, ir.Image)]
                    output: Any = result_text(p)
                    if images:
                        output = [_wire_part(c) for c in p.content]
                    wire = "custom_tool_call_output" if kind == "custom" else "function_call_output"
                    items.append({"type": wire, "call_id": p.call_id, "output": output})
                elif isinstance(p, ir.Text | ir.Image):
                    rest.append(_wire_part(p))
            if rest:
                items.append({"type": "message", "role": "user", "content": rest})
        else:
            items.extend(_assistant_items(m, names))
    return items


def _assistant_items(m: ir.Message, names: ToolNames) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, ir.Text):
            texts.append({"type": "output_text", "text": p.text})
            continue
        if texts:
            items.append({"type": "message", "role": "assistant", "content": texts})
            texts = []
        if isinstance(p, ir.Reasoning) and replayable(p, FORMAT) and not p.redacted:
            item_id, encrypted = unpack_reasoning(p.signature or "")
            reasoning: dict[str, Any] = {"type": "reasoning"}
            if item_id:
                reasoning["id"] = item_id
            reasoning["summary"] = [{"type": "summary_text", "text": p.text}] if p.text else []
            reasoning["encrypted_content"] = encrypted
            items.append(reasoning)
        elif isinstance(p, ir.ToolCall):
            namespace, name, kind = names.split(p.name)
            call: dict[str, Any]
            if kind == "custom":
                call = {
                    "type": "custom_tool_call",
                    "call_id": p.id,
                    "name": name,
                    "input": custom_input(p.arguments),
                }
            else:
                args = p.arguments if p.arguments.strip() else "{}"
                call = {"type": "function_call", "call_id": p.id, "name": name, "arguments": args}
            if namespace:
                call["namespace"] = namespace
            items.append(call)
    if texts:
        items.append({"type": "message", "role": "assistant", "content": texts})
    return items


def _tools_out(tools: Sequence[ir.Tool]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    names = ToolNames(tools)
    for tool in tools:
        namespace, name, kind = names.split(tool.name)
        wire: dict[str, Any] = {"type": kind, "name": name}
        if tool.description:
            wire["description"] = tool.description
        if kind == "function":
            wire["parameters"] = tool.parameters
            wire["strict"] = bool(tool.strict)
        if namespace:
            group = groups.get(namespace)
            if group is None:
                group = groups[namespace] = {
                    "type": "namespace",
                    "name": namespace,
                    "description": "",
                    "tools": [],
                }
                out.append(group)
            group["tools"].append(wire)
        else:
            out.append(wire)
    return out


def request_from_ir(req: ir.Request, model: str, stream: bool) -> dict[str, Any]:
    names = ToolNames(req.tools)
    messages = normalize_turns(req.messages, merge=False, system_as_user=False)
    out: dict[str, Any] = {"model": model}
    instructions = joined_system(req.system)
    if instructions:
        out["instructions"] = instructions
    out["input"] = _items(messages, names)
    if req.tools:
        out["tools"] = _tools_out(req.tools)
        c = req.tool_choice
        if c is not None:
            if c.mode == "tool":
                namespace, name, kind = names.split(c.name or "")
                out["tool_choice"] = {"type": kind, "name": name}
            else:
                out["tool_choice"] = c.mode
        if req.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = req.parallel_tool_calls
    t = req.thinking
    reasoning_on = t is not None and t.enabled
    if not reasoning_on:
        put_present(out, (("temperature", req.temperature), ("top_p", req.top_p)))
    if req.max_tokens is not None:
        out["max_output_tokens"] = req.max_tokens
    if t is not None and t.enabled:
        reasoning: dict[str, Any] = {"effort": thinking_effort(t)}
        if t.include_thoughts:
            reasoning["summary"] = "auto"
        out["reasoning"] = reasoning
        out["include"] = ["reasoning.encrypted_content"]
    text_format = response_format_out(req.response_format, None)
    if text_format:
        out["text"] = {"format": text_format}
    out["store"] = False
    out["stream"] = stream
    return out


# --------------------------------------------------------------------------- responses


@upstream_answer
def response_to_ir(body: Mapping[str, Any]) -> ir.Response:
    b = obj(body, "body")
    builder = Builder()
    for p, item in opt_objects(b, "output", ""):
        builder.item(item, p)
    content = tuple(
        p for m in builder.messages for p in m.content if not isinstance(p, ir.ToolResult)
    )
    details = opt_obj(b, "incomplete_details", "") or {}
    has_calls = any(isinstance(p, ir.ToolCall) for p in content)
    status = opt_str(b, "status", "")
    return ir.Response(
        id=opt_str(b, "id", "") or "",
        model=opt_str(b, "model", "") or "",
        content=content,
        stop_reason=stop_from_wire(
            status, opt_str(details, "reason", "incomplete_details."), has_calls
        ),
        usage=usage_from_wire(opt_obj(b, "usage", "") or {}),
    )


def response_from_ir(
    resp: ir.Response, model: str, *, tools: Sequence[ir.Tool] = ()
) -> dict[str, Any]:
    """The client body. ``tools`` (the request's IR tools) restores namespaced
    and custom tool calls to their Responses shape."""
    base = uuid.uuid4().hex
    rid = resp.id if resp.id.startswith("resp_") else f"resp_{base}"
    status, incomplete = status_to_wire(resp.stop_reason)
    error = (
        {"code": "server_error", "message": "the model stopped with an error"}
        if status == "failed"
        else None
    )
    return response_object(
        rid,
        model,
        int(time.time()),
        status,
        output_items(resp.content, base, ToolNames(tools)),
        resp.usage,
        error,
        incomplete,
    )
