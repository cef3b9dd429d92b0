"""Anthropic Messages requests -> IR: what a client such as Claude Code sends, read.

Agents send big conversations of a few block kinds (text, ``tool_use``,
``tool_result``), so those, in their usual shape, are read in place without
building a field path; anything else, or a block of another shape, takes the
general reader, which names the offending field in its error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import ir
from ._common import fill_result_names, import_signature
from ._json import (
    Raw,
    arr,
    dumps,
    guess_media_type,
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
)

__all__ = ["Calls", "read_blocks", "request_to_ir"]

FORMAT = ir.Format.ANTHROPIC
_BILLING_PREFIX = "x-anthropic-billing-header:"
_ROLES = {"user": ir.Role.USER, "assistant": ir.Role.ASSISTANT}


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


class Calls:
    """The names of the calls read so far (a result takes its call's name), and the ids
    of results read before their call (named once the whole request is read)."""

    __slots__ = ("names", "unnamed")

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.unnamed = False

    def result(self, call_id: str, content: tuple[ir.ContentPart, ...], error: bool) -> ir.Part:
        name = self.names.get(call_id, "")
        self.unnamed = self.unnamed or not name
        return ir.ToolResult(call_id, name, content, error)


def read_blocks(value: object, path: str, calls: Calls) -> tuple[ir.Part, ...]:
    """A message's content. The blocks agents send most, of the usual shape, are read
    in place (:func:`_usual`); any other block, or one of another shape, goes to
    :func:`_block_in`, which names the field in error."""
    if type(value) is list:
        parts = _usual(value, calls)
        if parts is not None:
            return parts
    return _careful(value, path, calls)


def _careful(value: object, path: str, calls: Calls) -> tuple[ir.Part, ...]:
    """A message's content read block by block, each field checked and named by its
    path in an error."""
    if isinstance(value, str):
        return (ir.Text(value),)
    out: list[ir.Part] = []
    for i, block in enumerate(arr(value, path)):
        part = _block_in(obj(block, f"{path}[{i}]"), f"{path}[{i}]", calls)
        if part is not None:
            out.append(part)
    return tuple(out)


def _usual(blocks: list[Any], calls: Calls) -> tuple[ir.Part, ...] | None:
    """Blocks that are all text, ``tool_use`` or ``tool_result`` (string content) of
    the usual shape, read without a field path; None when one is not (then
    :func:`read_blocks` reads them all again the careful way: the names this
    noted are the same again)."""
    out: list[ir.Part] = []
    names = calls.names
    for block in blocks:
        if type(block) is not dict:
            return None
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if type(text) is not str:
                return None
            out.append(ir.Text(text))
        elif kind == "tool_result":
            call_id, content, error = (
                block.get("tool_use_id"),
                block.get("content"),
                block.get("is_error"),
            )
            if type(call_id) is not str or type(content) is not str:
                return None
            if error is not None and type(error) is not bool:
                return None
            called = names.get(call_id, "")
            if not called:
                calls.unnamed = True
            out.append(ir.ToolResult(call_id, called, (ir.Text(content),), error is True))
        elif kind == "tool_use":
            call_id, name = block.get("id"), block.get("name")
            if type(call_id) is not str or type(name) is not str:
                return None
            names[call_id] = name
            out.append(ir.ToolCall(call_id, name, dumps(block.get("input") or {})))
        else:
            return None
    return tuple(out)


def _block_in(block: Raw, p: str, calls: Calls) -> ir.Part | None:
    """Any content block, every field checked; None for the kinds that cannot move."""
    part = _content_part(block, p)
    if part is not None:
        return part
    kind = block.get("type")
    if kind == "tool_use":
        call = ir.ToolCall(
            req_str(block, "id", p + "."),
            req_str(block, "name", p + "."),
            dumps(block.get("input") or {}),
        )
        calls.names[call.id] = call.name
        return call
    if kind == "tool_result":
        return calls.result(
            req_str(block, "tool_use_id", p + "."),
            _result_content(block.get("content"), p + ".content"),
            bool(opt_bool(block, "is_error", p + ".")),
        )
    if kind == "thinking":
        raw_sig = opt_str(block, "signature", p + ".") or ""
        sig, source = import_signature(raw_sig, FORMAT)
        text = opt_str(block, "thinking", p + ".") or ""
        return ir.Reasoning(text, sig or None, False, source)
    if kind == "redacted_thinking":
        sig, source = import_signature(req_str(block, "data", p + "."), FORMAT)
        return ir.Reasoning("", sig, True, source)
    return None  # server tool blocks, containers, search results...: not translatable


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
    tools = body.get("tools")
    if type(tools) is list:  # the usual shape read without field paths, else the careful way
        out = []
        for tool in tools:
            if type(tool) is not dict:
                break
            name, schema, text = tool.get("name"), tool.get("input_schema"), tool.get("description")
            kind, strict = tool.get("type"), tool.get("strict")
            if (
                type(name) is not str
                or type(schema) is not dict
                or (text is not None and type(text) is not str)
                or (strict is not None and type(strict) is not bool)
                or (kind is not None and kind != "custom")
            ):
                break
            out.append(ir.Tool(name, text or "", dict(schema), strict))
        else:
            return tuple(out)
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
    calls = Calls()
    for i, m in enumerate(arr(b.get("messages"), "messages")):
        if type(m) is not dict:
            m = obj(m, f"messages[{i}]")
        role = m.get("role")
        role = _ROLES.get(role) if type(role) is str else None
        if role is None or "content" not in m:
            p = f"messages[{i}]"
            if role is None:
                req_str(m, "role", p + ".")  # absent or not a string
                raise ir.TranslationError(p + ".role", "expected 'user' or 'assistant'")
            raise ir.TranslationError(p + ".content", "required")
        content = m["content"]
        parts = _usual(content, calls) if type(content) is list else None
        if parts is None:  # read_blocks but for its first try: the path is built only now
            parts = _careful(content, f"messages[{i}].content", calls)
        messages.append(ir.Message(role, parts))
    choice, parallel = _tool_choice(b)
    metadata = opt_obj(b, "metadata", "") or {}
    stop = tuple(str(s) for s in opt_arr(b, "stop_sequences", ""))
    return ir.Request(
        messages=fill_result_names(messages) if calls.unnamed else tuple(messages),
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
