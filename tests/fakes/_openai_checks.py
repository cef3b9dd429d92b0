"""Request validation of OpenAI Chat Completions and Responses, with the real
APIs' error messages (the ChatGPT Codex backend's own rules: ``_codex_backend``).

Each check returns ``None`` or a :class:`Problem` (``message``, ``param``,
``code``: the three fields of OpenAI's error object), so the fake can answer
exactly the 400 the platform would. Messages are copied from real API
answers, misspellings included ("preceeding").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Problem", "check_chat", "check_responses", "type_name"]

_CHAT_ROLES = ("system", "assistant", "user", "function", "tool", "developer")


@dataclass(frozen=True, slots=True)
class Problem:
    """One 400 answer: OpenAI's ``error.message``, ``error.param``, ``error.code``."""

    message: str
    param: str | None = None
    code: str | None = None


def type_name(value: Any) -> str:
    """How OpenAI names a JSON value's type in ``invalid_type`` errors."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _missing(param: str) -> Problem:
    return Problem(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def check_chat(body: Any) -> Problem | None:
    """Validate a ``/v1/chat/completions`` body."""
    if not isinstance(body, dict):
        return Problem("Invalid type for body: expected an object.", None, "invalid_type")
    if not body.get("model"):
        return Problem("you must provide a model parameter")
    if body.get("stream_options") is not None and body.get("stream") is not True:
        return Problem(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    if "messages" not in body:
        return _missing("messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        return Problem(
            "Invalid type for 'messages': expected an array of objects, but got"
            f" {type_name(messages)} instead.",
            "messages",
            "invalid_type",
        )
    if not messages:
        return Problem(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got"
            " an empty array instead.",
            "messages",
            "empty_array",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return Problem(
                f"Invalid type for 'messages[{i}]': expected an object, but got"
                f" {type_name(message)} instead.",
                f"messages[{i}]",
                "invalid_type",
            )
        if "role" not in message:
            return _missing(f"messages[{i}].role")
        if message["role"] not in _CHAT_ROLES:
            return Problem(
                f"Invalid value: '{message['role']}'. Supported values are: 'system',"
                " 'assistant', 'user', 'function', 'tool', and 'developer'.",
                f"messages[{i}].role",
                "invalid_value",
            )
        if message["role"] == "tool" and "tool_call_id" not in message:
            return _missing(f"messages[{i}].tool_call_id")
    return _check_chat_tool_pairs(messages)


def _check_chat_tool_pairs(messages: list[dict[str, Any]]) -> Problem | None:
    """A ``tool`` message answers a call of the assistant message right
    before the run of tool messages it belongs to; every call is answered
    before the next non-tool message."""
    pending: list[str] = []
    offered: set[str] = set()
    owner = -1
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "tool":
            call_id = message["tool_call_id"]
            if not offered:
                return Problem(
                    "Invalid parameter: messages with role 'tool' must be a response to a"
                    " preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            if call_id not in offered:
                return Problem(
                    f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in"
                    " 'tool_calls' of previous message.",
                    f"messages.[{i}].tool_call_id",
                )
            if call_id in pending:
                pending.remove(call_id)
            continue
        if pending:
            return _unanswered(owner, pending)
        offered = set()
        calls = message.get("tool_calls") if role == "assistant" else None
        if isinstance(calls, list) and calls:
            ids = [c.get("id") for c in calls if isinstance(c, dict)]
            pending = [x for x in ids if isinstance(x, str)]
            offered = set(pending)
            owner = i
    if pending:
        return _unanswered(owner, pending)
    return None


def _unanswered(owner: int, pending: list[str]) -> Problem:
    return Problem(
        "An assistant message with 'tool_calls' must be followed by tool messages responding"
        " to each 'tool_call_id'. The following tool_call_ids did not have response messages:"
        f" {', '.join(pending)}",
        f"messages.[{owner}].role",
    )


_OUTPUT_OF = {
    "function_call_output": "function_call",
    "custom_tool_call_output": "custom_tool_call",
}


def check_responses(body: Any) -> Problem | None:
    """Validate a ``/v1/responses`` body."""
    if not isinstance(body, dict):
        return Problem("Invalid type for body: expected an object.", None, "invalid_type")
    if not body.get("model"):
        return _missing("model")
    if "input" not in body:
        if any(body.get(k) for k in ("previous_response_id", "conversation", "prompt")):
            return None
        return _missing("input")
    items = body["input"]
    if isinstance(items, str):
        return None
    if not isinstance(items, list):
        return Problem(
            "Invalid type for 'input': expected one of a string or array of input items, but"
            f" got {type_name(items)} instead.",
            "input",
            "invalid_type",
        )
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return Problem(
                f"Invalid type for 'input[{i}]': expected an input item, but got"
                f" {type_name(item)} instead.",
                f"input[{i}]",
                "invalid_type",
            )
        if "type" in item and not isinstance(item["type"], str):
            return Problem(
                f"Invalid type for 'input[{i}].type': expected a string, but got"
                f" {type_name(item['type'])} instead.",
                f"input[{i}].type",
                "invalid_type",
            )
    if body.get("previous_response_id") or body.get("conversation"):
        return None  # earlier items live server-side; pairing cannot be checked
    return _check_response_pairs(items)


def _check_response_pairs(items: list[dict[str, Any]]) -> Problem | None:
    calls: dict[str, str] = {}
    answered: set[str] = set()
    for item in items:
        kind = item.get("type")
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            continue
        if kind in ("function_call", "custom_tool_call"):
            calls[call_id] = kind
        elif kind in _OUTPUT_OF:
            if calls.get(call_id) != _OUTPUT_OF[kind]:
                return Problem(
                    f"No tool call found for function call output with call_id {call_id}.",
                    "input",
                )
            answered.add(call_id)
    for call_id in calls:
        if call_id not in answered:
            return Problem(f"No tool output found for function call {call_id}.", "input")
    return None
