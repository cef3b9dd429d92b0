"""OpenAI Chat Completions <-> IR (requests, responses; streams in ``_openai_chat_stream``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from . import ir
from ._common import (
    export_signature,
    fill_result_names,
    import_signature,
    joined_system,
    normalize_turns,
    put_present,
    replayable,
    response_format_in,
    response_format_out,
    result_text,
    thinking_effort,
    tool_args_json,
    tool_choice_mode,
)
from ._json import (
    Raw,
    arr,
    data_url,
    file_from_data,
    image_from_url,
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
    schema_obj,
    short_user,
    upstream_answer,
)
from ._openai_chat_stream import (
    StreamDecoder,
    StreamEncoder,
    finish_to_wire,
    stop_from_wire,
    usage_from_wire,
    usage_to_wire,
)

__all__ = [
    "StreamDecoder",
    "StreamEncoder",
    "request_from_ir",
    "request_to_ir",
    "response_from_ir",
    "response_to_ir",
]

FORMAT = ir.Format.OPENAI

# --------------------------------------------------------------------------- request in


def _parts(value: object, path: str) -> tuple[ir.ContentPart, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (ir.Text(value),)
    out: list[ir.ContentPart] = []
    for p, part in objects(value, path):
        kind = part.get("type")
        if kind == "text":
            out.append(ir.Text(req_str(part, "text", p + ".")))
        elif kind == "refusal":
            out.append(ir.Text(req_str(part, "refusal", p + ".")))
        elif kind == "image_url":
            image = part.get("image_url")
            url = (
                image
                if isinstance(image, str)
                else req_str(obj(image, p + ".image_url"), "url", p + ".image_url.")
            )
            out.append(image_from_url(url))
        elif kind == "file":
            file = obj(part.get("file"), p + ".file")
            data = opt_str(file, "file_data", p + ".file.")
            if data is None:
                raise ir.TranslationError(
                    p + ".file.file_id", "uploaded files cannot be translated"
                )
            out.append(file_from_data(data))
        else:
            raise ir.TranslationError(p + ".type", f"content part {kind!r} cannot be translated")
    return tuple(out)


def _text_of(value: object, path: str) -> tuple[ir.Text, ...]:
    return tuple(p for p in _parts(value, path) if isinstance(p, ir.Text) and p.text)


def _assistant(m: Raw, path: str) -> ir.Message:
    parts: list[ir.Part] = []
    reasoning = m.get("reasoning_content") or m.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ir.Reasoning(reasoning, None, False, FORMAT))
    parts.extend(_parts(m.get("content"), path + ".content"))
    for p, call in opt_objects(m, "tool_calls", path + "."):
        fn = obj(call.get("function"), p + ".function")
        extra = call.get("extra_content")
        sig = (
            extra.get("google", {}).get("thought_signature") if isinstance(extra, Mapping) else None
        )
        if isinstance(sig, str) and sig:
            value, source = import_signature(sig, FORMAT)
            parts.append(ir.Reasoning("", value, False, source))
        args = fn.get("arguments")
        parts.append(
            ir.ToolCall(
                req_str(call, "id", p + "."),
                req_str(fn, "name", p + ".function."),
                args if isinstance(args, str) else "{}",
            )
        )
    legacy = opt_obj(m, "function_call", path + ".")
    if legacy is not None:
        parts.append(
            ir.ToolCall(
                "call_legacy",
                req_str(legacy, "name", path + ".function_call."),
                str(legacy.get("arguments") or "{}"),
            )
        )
    return ir.Message(ir.Role.ASSISTANT, tuple(parts))


def _messages(raw_messages: object) -> tuple[tuple[ir.Text, ...], list[ir.Message]]:
    system: list[ir.Text] = []
    messages: list[ir.Message] = []
    for p, m in objects(raw_messages, "messages"):
        role = req_str(m, "role", p + ".")
        if role in ("system", "developer"):
            texts = _text_of(m.get("content"), p + ".content")
            if messages:
                messages.append(ir.Message(ir.Role.SYSTEM, texts))
            else:
                system.extend(texts)
        elif role == "user":
            messages.append(ir.Message(ir.Role.USER, _parts(m.get("content"), p + ".content")))
        elif role == "assistant":
            messages.append(_assistant(m, p))
        elif role == "tool":
            result = ir.ToolResult(
                req_str(m, "tool_call_id", p + "."), "", _text_of(m.get("content"), p + ".content")
            )
            last = messages[-1] if messages else None
            if (
                last is not None
                and last.role is ir.Role.USER
                and all(isinstance(x, ir.ToolResult) for x in last.content)
            ):
                messages[-1] = ir.Message(ir.Role.USER, last.content + (result,))
            else:
                messages.append(ir.Message(ir.Role.USER, (result,)))
        elif role == "function" and messages and messages[-1].role is ir.Role.ASSISTANT:
            messages.append(
                ir.Message(
                    ir.Role.USER,
                    (
                        ir.ToolResult(
                            "call_legacy",
                            str(m.get("name") or ""),
                            _text_of(m.get("content"), p + ".content"),
                        ),
                    ),
                )
            )
        else:
            raise ir.TranslationError(p + ".role", f"unknown role {role!r}")
    return tuple(system), messages


def _tools(body: Raw) -> tuple[ir.Tool, ...]:
    out = []
    for p, tool in opt_objects(body, "tools", ""):
        if tool.get("type", "function") != "function":
            continue  # custom / built-in tools cannot move
        fn = obj(tool.get("function"), p + ".function")
        out.append(_function(fn, p + ".function"))
    for p, fn in opt_objects(body, "functions", ""):
        out.append(_function(fn, p))
    return tuple(out)


def _function(fn: Raw, path: str) -> ir.Tool:
    params = fn.get("parameters")
    return ir.Tool(
        req_str(fn, "name", path + "."),
        opt_str(fn, "description", path + ".") or "",
        schema_obj(params, path + ".parameters")
        if params is not None
        else {"type": "object", "properties": {}},
        opt_bool(fn, "strict", path + "."),
    )


def _tool_choice(body: Raw) -> ir.ToolChoice | None:
    choice = body.get("tool_choice", body.get("function_call"))
    if choice is None:
        return None
    if isinstance(choice, str):
        return tool_choice_mode(choice)
    c = obj(choice, "tool_choice")
    fn = c.get("function", c)
    return ir.ToolChoice(
        "tool", req_str(obj(fn, "tool_choice.function"), "name", "tool_choice.function.")
    )


def _response_format(body: Raw) -> ir.ResponseFormat | None:
    fmt = opt_obj(body, "response_format", "")
    return None if fmt is None else response_format_in(fmt, "response_format", "json_schema")


def request_to_ir(body: Mapping[str, Any]) -> ir.Request:
    b = obj(body, "body")
    n = opt_int(b, "n", "")
    if n is not None and n > 1:
        raise ir.TranslationError("n", "only one choice can be translated")
    system, messages = _messages(b.get("messages"))
    stop = b.get("stop")
    effort = opt_str(b, "reasoning_effort", "")
    thinking = None
    if effort is not None:
        thinking = ir.Thinking(enabled=False) if effort == "none" else ir.Thinking(effort=effort)
    metadata = opt_obj(b, "metadata", "") or {}
    return ir.Request(
        messages=fill_result_names(messages),
        system=system,
        tools=_tools(b),
        tool_choice=_tool_choice(b),
        parallel_tool_calls=opt_bool(b, "parallel_tool_calls", ""),
        temperature=opt_num(b, "temperature", ""),
        top_p=opt_num(b, "top_p", ""),
        max_tokens=opt_int(b, "max_completion_tokens", "") or opt_int(b, "max_tokens", ""),
        stop=(stop,) if isinstance(stop, str) else tuple(str(s) for s in opt_arr(b, "stop", "")),
        response_format=_response_format(b),
        thinking=thinking,
        seed=opt_int(b, "seed", ""),
        presence_penalty=opt_num(b, "presence_penalty", ""),
        frequency_penalty=opt_num(b, "frequency_penalty", ""),
        stream=bool(opt_bool(b, "stream", "")),
        user=opt_str(b, "user", ""),
        metadata={str(k): str(v) for k, v in metadata.items()},
    )


# --------------------------------------------------------------------------- request out


def _wire_part(part: ir.ContentPart) -> dict[str, Any]:
    if isinstance(part, ir.Text):
        return {"type": "text", "text": part.text}
    url = data_url(part.media_type, part.data) if part.data is not None else part.url or ""
    if part.media_type.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": "file", "file": {"file_data": url, "filename": "document.pdf"}}


def _content(parts: list[ir.ContentPart]) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and isinstance(parts[0], ir.Text):
        return parts[0].text
    return [_wire_part(p) for p in parts]


def _user(m: ir.Message, messages: list[dict[str, Any]]) -> None:
    """A user turn's messages: a ``tool`` message per result, then the rest in one."""
    rest: list[ir.ContentPart] = []
    for p in m.content:
        if isinstance(p, ir.ToolResult):
            content = p.content
            if len(content) == 1 and type(content[0]) is ir.Text:  # nearly every result
                messages.append(
                    {"role": "tool", "tool_call_id": p.call_id, "content": content[0].text}
                )
                continue
            messages.append({"role": "tool", "tool_call_id": p.call_id, "content": result_text(p)})
            for c in content:
                if isinstance(c, ir.Image):
                    rest.append(c)  # Chat's tool messages carry text only
        elif isinstance(p, (ir.Text, ir.Image)):
            rest.append(p)
    if rest:
        messages.append({"role": "user", "content": _content(rest)})


def _assistant_out(m: ir.Message, client: bool) -> dict[str, Any] | None:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    pending_sig: str | None = None
    for p in m.content:
        if isinstance(p, ir.Text):
            texts.append(p.text)
        elif isinstance(p, ir.Reasoning):
            reasoning.append(p.text)
            # An Anthropic signature binds its thinking text, which Chat cannot carry back.
            portable = not p.text or p.source != "anthropic"
            if p.signature and not p.redacted and (client and portable or replayable(p, FORMAT)):
                pending_sig = export_signature(p.signature, p.source, FORMAT)
        elif isinstance(p, ir.ToolCall):
            call: dict[str, Any] = {
                "id": p.id,
                "type": "function",
                "function": {"name": p.name, "arguments": tool_args_json(p)},
            }
            if pending_sig is not None:
                call["extra_content"] = {"google": {"thought_signature": pending_sig}}
                pending_sig = None
            calls.append(call)
    if not texts and not calls and not (client and reasoning):
        return None
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if client and any(reasoning):
        out["reasoning_content"] = "".join(reasoning)
    if calls:
        out["tool_calls"] = calls
    return out


def request_from_ir(req: ir.Request, model: str, stream: bool) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    system = joined_system(req.system)
    if system:
        messages.append({"role": "system", "content": system})
    for m in normalize_turns(req.messages, merge=False, system_as_user=False):
        if m.role is ir.Role.SYSTEM:
            messages.append(
                {
                    "role": "system",
                    "content": joined_system(p for p in m.content if isinstance(p, ir.Text)),
                }
            )
        elif m.role is ir.Role.USER:
            _user(m, messages)
        else:
            wire = _assistant_out(m, client=False)
            if wire is not None:
                messages.append(wire)
    out: dict[str, Any] = {"model": model, "messages": messages}
    if req.tools:
        out["tools"] = [_tool(t) for t in req.tools]
        if req.tool_choice is not None:
            c = req.tool_choice
            out["tool_choice"] = (
                {"type": "function", "function": {"name": c.name or ""}}
                if c.mode == "tool"
                else c.mode
            )
        if req.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = req.parallel_tool_calls
    put_present(
        out,
        (
            ("temperature", req.temperature),
            ("top_p", req.top_p),
            ("presence_penalty", req.presence_penalty),
            ("frequency_penalty", req.frequency_penalty),
            ("max_tokens", req.max_tokens),
            ("stop", req.stop),
            ("seed", req.seed),
        ),
    )
    response_format = response_format_out(req.response_format, "json_schema")
    if response_format:
        out["response_format"] = response_format
    if req.thinking is not None:
        out["reasoning_effort"] = thinking_effort(req.thinking) if req.thinking.enabled else "none"
    if req.user:
        out["user"] = short_user(req.user)
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _tool(tool: ir.Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": tool.name}
    if tool.description:
        fn["description"] = tool.description
    fn["parameters"] = tool.parameters
    if tool.strict is not None:
        fn["strict"] = tool.strict
    return {"type": "function", "function": fn}


# --------------------------------------------------------------------------- responses


@upstream_answer
def response_to_ir(body: Mapping[str, Any]) -> ir.Response:
    b = obj(body, "body")
    choices = arr(b.get("choices") or [], "choices")
    message: Raw = {}
    finish: str | None = None
    if choices:
        choice = obj(choices[0], "choices[0]")
        message = opt_obj(choice, "message", "choices[0].") or {}
        finish = opt_str(choice, "finish_reason", "choices[0].")
    content = _assistant(message, "choices[0].message").content
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content += (ir.Text(refusal),)
    has_calls = any(isinstance(p, ir.ToolCall) for p in content)
    return ir.Response(
        id=opt_str(b, "id", "") or "",
        model=opt_str(b, "model", "") or "",
        content=content,
        stop_reason=stop_from_wire(finish, has_calls),
        usage=usage_from_wire(opt_obj(b, "usage", "") or {}),
    )


def response_from_ir(resp: ir.Response, model: str) -> dict[str, Any]:
    message = _assistant_out(ir.Message(ir.Role.ASSISTANT, resp.content), client=True)
    if message is None:
        message = {"role": "assistant", "content": ""}
    return {
        "id": resp.id or f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_to_wire(resp.stop_reason),
                "logprobs": None,
            }
        ],
        "usage": usage_to_wire(resp.usage),
    }
