"""OpenAI Responses input items -> IR turns (requests' ``input``, responses' ``output``)."""

from __future__ import annotations

from collections.abc import Mapping

from . import ir
from ._common import import_signature
from ._json import (
    Raw,
    dumps,
    file_from_data,
    guess_media_type,
    image_from_url,
    objects,
    opt_arr,
    opt_str,
    req_str,
)
from ._responses_items import FORMAT, pack_reasoning


def _file(part: Raw, path: str) -> ir.Image:
    data = opt_str(part, "file_data", path + ".")
    if data is not None:
        return file_from_data(data)
    url = opt_str(part, "file_url", path + ".")
    if url is not None:
        return ir.Image(guess_media_type(url), url=url)
    raise ir.TranslationError(path + ".file_id", "uploaded files cannot be translated")


def parts_of(value: object, path: str) -> tuple[ir.ContentPart, ...]:
    if isinstance(value, str):
        return (ir.Text(value),)
    out: list[ir.ContentPart] = []
    for p, part in objects(value, path):
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            out.append(ir.Text(req_str(part, "text", p + ".")))
        elif kind == "refusal":
            out.append(ir.Text(req_str(part, "refusal", p + ".")))
        elif kind == "input_image":
            url = opt_str(part, "image_url", p + ".")
            if url is None:
                raise ir.TranslationError(p + ".file_id", "uploaded files cannot be translated")
            out.append(image_from_url(url))
        elif kind == "input_file":
            out.append(_file(part, p))
        else:
            raise ir.TranslationError(p + ".type", f"content part {kind!r} cannot be translated")
    return tuple(out)


class Builder:
    """Groups input items into IR turns: assistant-side items join one turn."""

    def __init__(self) -> None:
        self.system: list[ir.Text] = []
        self.messages: list[ir.Message] = []

    def add(self, role: ir.Role, part: ir.Part, *, join: bool) -> None:
        last = self.messages[-1] if self.messages else None
        if join and last is not None and last.role is role:
            self.messages[-1] = ir.Message(role, last.content + (part,))
        else:
            self.messages.append(ir.Message(role, (part,)))

    def message(self, item: Raw, path: str) -> None:
        role = opt_str(item, "role", path + ".") or "user"
        parts = parts_of(item.get("content") or [], path + ".content")
        if role in ("system", "developer"):
            texts = tuple(p for p in parts if isinstance(p, ir.Text))
            if self.messages:
                self.messages.append(ir.Message(ir.Role.SYSTEM, texts))
            else:
                self.system.extend(texts)
        elif role == "assistant":
            for part in parts:
                self.add(ir.Role.ASSISTANT, part, join=True)
        elif role == "user":
            self.messages.append(ir.Message(ir.Role.USER, parts))
        else:
            raise ir.TranslationError(path + ".role", f"unknown role {role!r}")

    def item(self, item: Raw, path: str) -> None:
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            self.message(item, path)
        elif kind in ("function_call", "custom_tool_call"):
            name = req_str(item, "name", path + ".")
            namespace = opt_str(item, "namespace", path + ".")
            if namespace:
                name = f"{namespace}__{name}"
            if kind == "custom_tool_call":
                args = dumps({"input": str(item.get("input") or "")})
            else:
                args = str(item.get("arguments") or "{}")
            self.add(
                ir.Role.ASSISTANT,
                ir.ToolCall(req_str(item, "call_id", path + "."), name, args),
                join=True,
            )
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output")
            content = parts_of(output, path + ".output") if output is not None else ()
            result = ir.ToolResult(req_str(item, "call_id", path + "."), "", content)
            last = self.messages[-1] if self.messages else None
            only_results = last is not None and all(
                isinstance(p, ir.ToolResult) for p in last.content
            )
            self.add(ir.Role.USER, result, join=only_results)
        elif kind == "reasoning":
            summary = "\n\n".join(
                str(s.get("text") or "")
                for s in opt_arr(item, "summary", path + ".")
                if isinstance(s, Mapping)
            )
            raw_sig = opt_str(item, "encrypted_content", path + ".")
            sig, source = import_signature(raw_sig, FORMAT) if raw_sig else (None, FORMAT)
            if sig and source == FORMAT:
                sig = pack_reasoning(item.get("id"), sig)
            self.add(ir.Role.ASSISTANT, ir.Reasoning(summary, sig, False, source), join=True)
        elif kind == "item_reference":
            raise ir.TranslationError(
                path, "item references need stored responses and cannot be translated"
            )
        # built-in tool calls (web_search_call, ...) cannot move: dropped
