"""An OpenAI Chat Completions request, read into what the backends need.

The Gemini web app takes one prompt per turn, so the conversation is
flattened: system text first, then each turn labelled by its speaker. The
g4f providers take OpenAI-style messages, so they get the same turns as plain
``{"role", "content"}`` pairs. Tools cannot be offered to either backend: tool
definitions are ignored, and earlier tool calls and results stay in the
transcript as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ._errors import RequestError

__all__ = ["ChatRequest", "Message", "parse_chat_request"]

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_LABELS = {"user": "User", "assistant": "Assistant", "tool": "Tool result"}
_DEFAULT_MODELS = frozenset({"", "default", "gemini", "gemini-web"})


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # system, user, assistant, tool
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    stream: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None

    @property
    def default_model(self) -> bool:
        """No particular model asked for: the Gemini account's default one."""
        return self.model.lower() in _DEFAULT_MODELS

    def prompt(self) -> str:
        """The whole conversation as one prompt, system text first."""
        system = [m.content for m in self.messages if m.role == "system" and m.content]
        turns = [m for m in self.messages if m.role != "system"]
        if not system and len(turns) == 1 and turns[0].role == "user":
            return turns[0].content
        parts = []
        if system:
            parts.append("System:\n" + "\n\n".join(system))
        parts += [f"{_LABELS[m.role]}:\n{m.content}" for m in turns if m.content]
        return "\n\n".join(parts)

    def chat_messages(self) -> list[dict[str, str]]:
        """The turns as OpenAI-style messages (tool results become user text)."""
        out = []
        for m in self.messages:
            if m.role == "tool":
                out.append({"role": "user", "content": f"Tool result:\n{m.content}"})
            elif m.content:
                out.append({"role": m.role, "content": m.content})
        return out


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate a decoded request body; RequestError names what is wrong."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str):
        raise RequestError("'model' is required and must be a string")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise RequestError("'messages' is required and must be a non-empty list")
    messages = tuple(_message(m, i) for i, m in enumerate(raw))
    if not any(m.content for m in messages if m.role != "system"):
        raise RequestError("the conversation has no text to answer")
    return ChatRequest(
        model=model,
        messages=messages,
        stream=body.get("stream") is True,
        temperature=_number(body, "temperature"),
        top_p=_number(body, "top_p"),
        max_tokens=_max_tokens(body),
    )


def _message(raw: Any, i: int) -> Message:
    if not isinstance(raw, dict):
        raise RequestError(f"messages[{i}] must be an object")
    role = raw.get("role")
    if role in ("tool", "function"):
        name = raw.get("name") or raw.get("tool_call_id") or "tool"
        return Message("tool", f"({name}) {_text(raw.get('content'), i)}".strip())
    if role not in _ROLES:
        raise RequestError(f"messages[{i}].role: unknown role {role!r}")
    text = _text(raw.get("content"), i)
    for call in raw.get("tool_calls") or ():
        fn = call.get("function", {}) if isinstance(call, dict) else {}
        if isinstance(fn, dict) and fn.get("name"):
            args = fn.get("arguments", "")
            args = args if isinstance(args, str) else orjson.dumps(args).decode()
            text += f"\n[called tool {fn['name']}({args})]"
    return Message(_ROLES[role], text.strip())


def _text(content: Any, i: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise RequestError(f"messages[{i}].content must be a string or a list of parts")
    out = []
    for part in content:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and part.get("type") in ("text", "input_text"):
            out.append(str(part.get("text", "")))
        elif isinstance(part, dict):
            out.append(f"[{part.get('type', 'attachment')} omitted: this service takes text only]")
    return "\n".join(out)


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"'{key}' must be a number")
    return float(value)


def _max_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError("'max_tokens' must be a positive whole number")
    return value
