"""Request validation of the Anthropic Messages API, message for message.

A translating router's commonest bugs are structural (a ``tool_result``
whose ``tool_use`` was dropped, a system prompt sent as the wrong type),
and the real API rejects them with a 400 naming the field path. These
checks reproduce those rejections and their pydantic-style messages
(``messages.2.content.0: ...``) so the router's tests fail the way
production would. Each function returns the error message, or ``None``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_messages_request"]

#: Block types the Messages API accepts in ``messages[].content``.
BLOCK_TYPES = frozenset(
    {
        "advisor_tool_result",
        "bash_code_execution_tool_result",
        "code_execution_tool_result",
        "compaction",
        "container_upload",
        "document",
        "fallback",
        "image",
        "mcp_tool_result",
        "mcp_tool_use",
        "redacted_thinking",
        "search_result",
        "server_tool_use",
        "text",
        "text_editor_code_execution_tool_result",
        "thinking",
        "tool_addition",
        "tool_removal",
        "tool_result",
        "tool_search_tool_result",
        "tool_use",
        "web_fetch_tool_result",
        "web_search_tool_result",
    }
)

_THINKING_DOC = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _blocks(message: dict[str, Any]) -> list[Any]:
    content = message.get("content")
    return content if isinstance(content, list) else []


def _ids(message: Any, block_type: str, key: str) -> list[str]:
    found: list[str] = []
    if isinstance(message, dict):
        for block in _blocks(message):
            if isinstance(block, dict) and block.get("type") == block_type:
                value = block.get(key)
                if isinstance(value, str):
                    found.append(value)
    return found


def check_messages_request(body: Any, *, count_tokens: bool = False) -> str | None:
    """Validate a ``/v1/messages`` (or ``count_tokens``) body."""
    if not isinstance(body, dict):
        return "Input should be a valid dictionary"
    model = body.get("model")
    if model is None:
        return "model: Field required"
    if not isinstance(model, str):
        return "model: Input should be a valid string"
    if not count_tokens:
        if "max_tokens" not in body:
            return "max_tokens: Field required"
        if not _is_int(body["max_tokens"]):
            return "max_tokens: Input should be a valid integer"
        if body["max_tokens"] < 1:
            return "max_tokens: Input should be greater than or equal to 1"
    return (
        _check_system(body.get("system"))
        or _check_messages(body.get("messages", ...))
        or _check_tools(body.get("tools"))
        or _check_thinking(body, count_tokens)
    )


def _check_system(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return None
    if not isinstance(system, list):
        return "system: Input should be a valid list"
    for j, block in enumerate(system):
        if not isinstance(block, dict):
            return f"system.{j}: Input should be a valid dictionary"
        if block.get("type") != "text":
            return f"system.{j}.type: Input should be 'text'"
        if not isinstance(block.get("text"), str):
            return f"system.{j}.text: Field required"
    return None


def _check_messages(messages: Any) -> str | None:
    if messages is ...:
        return "messages: Field required"
    if not isinstance(messages, list):
        return "messages: Input should be a valid list"
    if not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        problem = _check_message(i, message, last=i == len(messages) - 1)
        if problem:
            return problem
    if messages[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    return _check_tool_pairs(messages)


def _check_message(i: int, message: Any, *, last: bool) -> str | None:
    if not isinstance(message, dict):
        return f"messages.{i}: Input should be a valid dictionary"
    role = message.get("role")
    if role is None:
        return f"messages.{i}.role: Field required"
    if role not in ("user", "assistant"):
        return f"messages.{i}.role: Input should be 'user' or 'assistant'"
    if "content" not in message:
        return f"messages.{i}.content: Field required"
    content = message["content"]
    if isinstance(content, str):
        if not content and not (last and role == "assistant"):
            return (
                f"messages.{i}: all messages must have non-empty content except for the"
                " optional final assistant message"
            )
        return None
    if not isinstance(content, list):
        return f"messages.{i}.content: Input should be a valid list"
    if not content and not (last and role == "assistant"):
        return (
            f"messages.{i}: all messages must have non-empty content except for the"
            " optional final assistant message"
        )
    for j, block in enumerate(content):
        problem = _check_block(f"messages.{i}.content.{j}", block)
        if problem:
            return problem
    return None


def _check_block(where: str, block: Any) -> str | None:
    if not isinstance(block, dict):
        return f"{where}: Input should be a valid dictionary"
    kind = block.get("type")
    if kind is None:
        return f"{where}: Unable to extract tag using discriminator 'type'"
    if kind not in BLOCK_TYPES:
        expected = "', '".join(sorted(BLOCK_TYPES))
        return (
            f"{where}: Input tag '{kind}' found using 'type' does not match any of the"
            f" expected tags: '{expected}'"
        )
    if kind == "text" and not isinstance(block.get("text"), str):
        return f"{where}.text.text: Field required"
    if kind == "tool_use":
        for key in ("id", "name", "input"):
            if key not in block:
                return f"{where}.tool_use.{key}: Field required"
    if kind == "tool_result" and not isinstance(block.get("tool_use_id"), str):
        return f"{where}.tool_result.tool_use_id: Field required"
    if kind == "thinking" and "signature" not in block:
        return f"{where}.thinking.signature: Field required"
    return None


def _check_tool_pairs(messages: list[dict[str, Any]]) -> str | None:
    """Every tool_result answers a tool_use of the message just before it;
    every tool_use is answered in the message just after it."""
    for i, message in enumerate(messages):
        results = _ids(message, "tool_result", "tool_use_id")
        if results:
            previous = messages[i - 1] if i else None
            offered = set(_ids(previous, "tool_use", "id"))
            if previous is None or previous.get("role") != "assistant":
                offered = set()
            for j, block in enumerate(_blocks(message)):
                if (
                    isinstance(block, dict)
                    and block.get("type") == "tool_result"
                    and block.get("tool_use_id") not in offered
                ):
                    return (
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in"
                        f" `tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result`"
                        " block must have a corresponding `tool_use` block in the previous"
                        " message."
                    )
        uses = _ids(message, "tool_use", "id")
        if uses and message.get("role") == "assistant" and i + 1 < len(messages):
            following = messages[i + 1]
            answered = set(_ids(following, "tool_result", "tool_use_id"))
            if following.get("role") != "user":
                answered = set()
            missing = [u for u in uses if u not in answered]
            if missing:
                return (
                    f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks"
                    f" immediately after: {', '.join(missing)}. Each `tool_use` block must have"
                    " a corresponding `tool_result` block in the next message."
                )
    return None


def _check_tools(tools: Any) -> str | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    for k, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return f"tools.{k}: Input should be a valid dictionary"
        if tool.get("type") in (None, "custom"):
            if not isinstance(tool.get("name"), str):
                return f"tools.{k}.custom.name: Field required"
            if not isinstance(tool.get("input_schema"), dict):
                return f"tools.{k}.custom.input_schema: Field required"
    return None


def _check_thinking(body: dict[str, Any], count_tokens: bool) -> str | None:
    thinking = body.get("thinking")
    if thinking is None:
        return None
    if not isinstance(thinking, dict) or thinking.get("type") not in (
        "enabled",
        "disabled",
        "adaptive",
    ):
        return "thinking: Input tag found using 'type' does not match any of the expected tags: 'adaptive', 'disabled', 'enabled'"
    if thinking["type"] != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        return "thinking.enabled.budget_tokens: Field required"
    if budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if not count_tokens and body["max_tokens"] <= budget:
        return (
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our"
            f" documentation at {_THINKING_DOC}#max-tokens-and-context-window-size"
        )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return (
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our"
            f" documentation at {_THINKING_DOC}#feature-compatibility"
        )
    return None
