"""OpenAI Responses output items, usage and status, shared by responses and streams."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from . import ir
from ._common import export_signature, tool_args_json
from ._json import int_of, loads_object

FORMAT = ir.Format.RESPONSES
_ITEM_ID = re.compile(r"rs_[A-Za-z0-9_-]+")  # fullmatch: no trailing newline


def pack_reasoning(item_id: object, encrypted: str) -> str:
    """The IR signature of a Responses reasoning item, ``<id>.<encrypted_content>``:
    the API wants a stateless replay to carry the item's id with its content, so
    the id travels inside the signature through whatever client format."""
    if isinstance(item_id, str) and _ITEM_ID.fullmatch(item_id):
        return f"{item_id}.{encrypted}"
    return encrypted


def unpack_reasoning(signature: str) -> tuple[str | None, str]:
    head, sep, rest = signature.partition(".")
    if sep and _ITEM_ID.fullmatch(head):
        return head, rest
    return None, signature


def client_reasoning(item_id: str, part: ir.Reasoning) -> dict[str, Any]:
    """A reasoning output item for a Responses client."""
    if not part.signature:
        return reasoning_item(item_id, part.text, None)
    if part.source in (None, FORMAT):
        original, encrypted = unpack_reasoning(part.signature)
        return reasoning_item(original or item_id, part.text, encrypted)
    return reasoning_item(item_id, part.text, export_signature(part.signature, part.source, FORMAT))


class ToolNames:
    """Flattened IR tool names -> (namespace, name, kind) of the Responses client."""

    def __init__(self, tools: Iterable[ir.Tool] = ()) -> None:
        self._tools = {t.name: t for t in tools}

    def split(self, name: str) -> tuple[str | None, str, str]:
        tool = self._tools.get(name)
        if tool is None:
            return None, name, "function"
        if tool.namespace and name.startswith(tool.namespace + "__"):
            return tool.namespace, name[len(tool.namespace) + 2 :], tool.kind
        return None, name, tool.kind


def usage_from_wire(u: Mapping[str, Any]) -> ir.Usage:
    inp = u.get("input_tokens_details") or {}
    out = u.get("output_tokens_details") or {}
    return ir.Usage(
        input_tokens=int_of(u.get("input_tokens")),
        output_tokens=int_of(u.get("output_tokens")),
        cached_input_tokens=int_of(inp.get("cached_tokens")),
        reasoning_tokens=int_of(out.get("reasoning_tokens")),
        cache_creation_input_tokens=int_of(inp.get("cache_write_tokens")),
    )


def usage_to_wire(u: ir.Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {
            "cached_tokens": u.cached_input_tokens,
            "cache_write_tokens": u.cache_creation_input_tokens,
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens + u.output_tokens,
    }


def stop_from_wire(
    status: str | None, incomplete_reason: str | None, has_calls: bool
) -> ir.StopReason:
    if status == "incomplete":
        if incomplete_reason == "content_filter":
            return ir.StopReason.CONTENT_FILTER
        return ir.StopReason.MAX_TOKENS
    if status == "failed":
        return ir.StopReason.ERROR
    return ir.StopReason.TOOL_USE if has_calls else ir.StopReason.END_TURN


def status_to_wire(reason: ir.StopReason) -> tuple[str, dict[str, str] | None]:
    """(status, incomplete_details) for the client."""
    if reason is ir.StopReason.MAX_TOKENS:
        return "incomplete", {"reason": "max_output_tokens"}
    if reason is ir.StopReason.CONTENT_FILTER:
        return "incomplete", {"reason": "content_filter"}
    if reason is ir.StopReason.ERROR:
        return "failed", None
    return "completed", None


# --------------------------------------------------------------------------- items


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, texts: list[str], status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [text_part(t) for t in texts],
    }


def reasoning_item(item_id: str, summary: str, signature: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": summary}] if summary else [],
    }
    if signature:
        item["encrypted_content"] = signature
    return item


def custom_input(arguments: str) -> str:
    args = loads_object(arguments)
    value = args.get("input") if args is not None else None
    return value if isinstance(value, str) else arguments


def call_item(
    item_id: str, call: ir.ToolCall, names: ToolNames, status: str = "completed"
) -> dict[str, Any]:
    namespace, name, kind = names.split(call.name)
    item: dict[str, Any]
    if kind == "custom":
        item = {
            "id": item_id,
            "type": "custom_tool_call",
            "status": status,
            "call_id": call.id,
            "name": name,
            "input": custom_input(call.arguments) if status == "completed" else "",
        }
    else:
        item = {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "call_id": call.id,
            "name": name,
            "arguments": tool_args_json(call) if status == "completed" else "",
        }
    if namespace:
        item["namespace"] = namespace
    return item


def output_items(content: tuple[ir.Part, ...], base: str, names: ToolNames) -> list[dict[str, Any]]:
    """IR parts of an answer -> Responses output items (non-stream)."""
    items: list[dict[str, Any]] = []
    texts: list[str] = []

    def flush() -> None:
        if texts:
            items.append(message_item(f"msg_{base}_{len(items)}", list(texts)))
            texts.clear()

    for part in content:
        if isinstance(part, ir.Text):
            texts.append(part.text)
            continue
        flush()
        if isinstance(part, ir.Reasoning):
            if part.redacted:
                continue
            items.append(client_reasoning(f"rs_{base}_{len(items)}", part))
        elif isinstance(part, ir.ToolCall):
            items.append(call_item(f"fc_{base}_{len(items)}", part, names))
    flush()
    return items


def response_object(
    rid: str,
    model: str,
    created: int,
    status: str,
    output: list[dict[str, Any]],
    usage: ir.Usage | None = None,
    error: dict[str, str] | None = None,
    incomplete: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage_to_wire(usage) if usage is not None else None,
        "metadata": {},
    }
