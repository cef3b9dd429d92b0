"""Real agent bodies for the bench: the captured Claude Code turn, and the same session grown.

The capture (``../shared/fixtures/clients/claude-code/turn2-request.json``, next to
the repository) is one HTTP request as Claude Code sent it: ``method``, ``path``
(``/v1/messages?beta=true``), ``headers`` and ``body``, a streaming Anthropic Messages
request of about 86 KB, most of it system prompt and tool schemas. A long session
carries the same prefix and a growing history of tool calls, so the grown body keeps
the turn as it is and appends assistant ``tool_use`` / user ``tool_result`` pairs,
each result a slice of the capture's own text (prose with newlines and quotes to
escape, like a file a ``Read`` returns), until the next pair would pass the target
size. The output is deterministic: same capture, same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "FIXTURE",
    "AgentTurn",
    "grow",
    "load_turn",
    "tool_pairs",
]

_ROOT = Path(__file__).resolve().parent.parent  # the repository
FIXTURE = (_ROOT / "../shared/fixtures/clients/claude-code/turn2-request.json").resolve()
GROWN_BYTES = 500_000
_RESULT_CHARS = 8_000  # one appended tool result, about a file of 200 lines
# What the load client must not replay: its own framing, compression, the content type it sets.
_DROP_HEADERS = {"connection", "accept-encoding", "content-type", "content-length", "host"}


@dataclass(frozen=True, slots=True)
class AgentTurn:
    """The captured request: where it goes, the client's headers, its JSON body."""

    path: str
    headers: tuple[tuple[str, str], ...]
    body: dict[str, Any]


def load_turn(path: Path = FIXTURE) -> AgentTurn:
    """The capture, or SystemExit naming the missing file (the bench cannot run without it)."""
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise SystemExit(
            f"bench: the Claude Code capture is missing: {path} (expected beside the repository, "
            "at ../shared/fixtures/clients/claude-code/turn2-request.json); "
            "run without the agent rows, or put the capture there"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise SystemExit(f"bench: {path} is not JSON: {exc}") from None
    body = raw.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise SystemExit(f"bench: {path} has no Anthropic Messages request under 'body'")
    headers = tuple(
        (k, str(v)) for k, v in raw.get("headers", {}).items() if k.lower() not in _DROP_HEADERS
    )
    return AgentTurn(str(raw.get("path", "/v1/messages")), headers, body)


def _texts(body: dict[str, Any]) -> str:
    """All the capture's prose, in a fixed order: the source of the appended results."""
    parts: list[str] = []
    system = body.get("system")
    if isinstance(system, list):
        parts += [b["text"] for b in system if isinstance(b, dict) and "text" in b]
    elif isinstance(system, str):
        parts.append(system)
    for msg in body["messages"]:
        content = msg.get("content")
        if isinstance(content, list):
            parts += [b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text"]
    parts += [str(t.get("description", "")) for t in body.get("tools", [])]
    text = "\n".join(p for p in parts if p)
    if not text:
        raise SystemExit("bench: the capture has no text to grow a session from")
    return text


def _pair(k: int, source: str) -> list[dict[str, Any]]:
    """Turn ``k`` of the grown history: a Read call and its result."""
    start = (k * 7_919) % len(source)
    chunk = (source[start:] + "\n" + source)[:_RESULT_CHARS]
    tool_id = f"toolu_bench{k:05d}"
    path = f"/home/user/project/src/module_{k:03d}.py"
    return [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": f"Reading {path} to follow the call chain (step {k})."},
                {"type": "tool_use", "id": tool_id, "name": "Read", "input": {"file_path": path}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": chunk}],
        },
    ]


def grow(body: dict[str, Any], target: int = GROWN_BYTES) -> dict[str, Any]:
    """The session grown to at most ``target`` bytes (within one pair of it), as valid a
    Messages request as the capture: roles alternate, every tool_use has its result next."""
    if len(orjson.dumps(body)) > target:
        return body
    source = _texts(body)
    messages = list(body["messages"])
    if messages and messages[-1].get("role") == "assistant":
        raise SystemExit("bench: the capture ends with an assistant turn; cannot append to it")
    size = len(orjson.dumps({**body, "messages": messages}))
    k = 1
    while True:
        pair = _pair(k, source)
        step = len(orjson.dumps(pair))  # the list's brackets stand in for the commas
        if size + step > target:
            break
        messages += pair
        size += step
        k += 1
    return {**body, "messages": messages}


def tool_pairs(body: dict[str, Any]) -> tuple[int, list[str]]:
    """How many tool_use blocks have their tool_result in the next user message, and what
    is wrong (unmatched ids, roles that do not alternate); for the test and a sanity check."""
    problems: list[str] = []
    matched = 0
    messages = body["messages"]
    for i, msg in enumerate(messages):
        if i and msg.get("role") == messages[i - 1].get("role"):
            problems.append(f"messages[{i}]: two {msg.get('role')} turns in a row")
        content = msg.get("content")
        if msg.get("role") != "assistant" or not isinstance(content, list):
            continue
        uses = [b["id"] for b in content if b.get("type") == "tool_use"]
        if not uses:
            continue
        nxt = messages[i + 1]["content"] if i + 1 < len(messages) else []
        results = [b.get("tool_use_id") for b in nxt if b.get("type") == "tool_result"]
        if sorted(uses) != sorted(results):
            problems.append(f"messages[{i}]: tool_use {uses} answered by {results}")
        else:
            matched += len(uses)
    return matched, problems
