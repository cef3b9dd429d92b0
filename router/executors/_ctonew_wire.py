"""cto.new without I/O: one prompt from a conversation, buffer frames to IR events.

cto.new's agent takes a single prompt string, so the conversation is
flattened (system text, turns, tool calls and results as plain text) and
capped at 20,000 bytes: larger bodies fail upstream. Its answer arrives as
WebSocket frames; ``FrameReader`` turns them into IR stream events:

* ``{"type":"history"}`` first, and an idle ``state`` frame on connect
  (``inProgress: false`` before anything happened): both ignored;
* ``update`` frames carry a JSON string ``buffer`` (one or more lines): the
  echo of our prompt (``role: user``, skipped), then ``type: thinking`` and
  ``type: chat`` objects whose ``chat.content`` is either a delta or the
  whole text so far (told apart per message id);
* ``state`` with ``inProgress: false`` after activity ends the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from router.errors import BadRequest, PayloadTooLarge
from router.formats import ir

__all__ = ["MAX_PROMPT_BYTES", "FrameReader", "flatten_prompt", "is_quota_error"]

MAX_PROMPT_BYTES = 20_000
_QUOTA = re.compile(
    r"quota|usage limit|daily limit|weekly limit|limit reached|reached (?:your|the) .*limit|"
    r"rate limit|too many requests|insufficient credits|out of credits",
    re.IGNORECASE,
)


def is_quota_error(text: str) -> bool:
    return bool(_QUOTA.search(text))


def _part_text(part: ir.Part) -> str:
    if isinstance(part, ir.Text):
        return part.text
    if isinstance(part, ir.Image):
        return "[image omitted]"
    if isinstance(part, ir.ToolCall):
        return f"[called tool {part.name} with {part.arguments}]"
    if isinstance(part, ir.ToolResult):
        inner = "\n".join(_part_text(p) for p in part.content)
        return f"[result of tool {part.name}{' (error)' if part.is_error else ''}]\n{inner}"
    return ""  # reasoning stays with the model that produced it


def flatten_prompt(req: ir.Request) -> str:
    """The whole conversation as one prompt; PayloadTooLarge over 20,000 bytes."""
    system = "\n\n".join(t.text for t in req.system if t.text)
    turns = [
        (m.role, "\n".join(t for t in (_part_text(p) for p in m.content) if t))
        for m in req.messages
    ]
    turns = [(role, text) for role, text in turns if text.strip()]
    if not system and len(turns) == 1 and turns[0][0] is ir.Role.USER:
        prompt = turns[0][1]
    else:
        blocks = [f"[System]\n{system}"] if system else []
        names = {ir.Role.USER: "User", ir.Role.ASSISTANT: "Assistant", ir.Role.SYSTEM: "System"}
        blocks += [f"[{names.get(role, 'User')}]\n{text}" for role, text in turns]
        if turns and turns[-1][0] is not ir.Role.USER:
            blocks.append("[User]\nContinue.")
        blocks.append("[Assistant]")
        prompt = "\n\n".join(blocks)
    size = len(prompt.encode())
    if size > MAX_PROMPT_BYTES:
        raise PayloadTooLarge(
            f"the conversation is {size} bytes as one prompt; cto.new accepts at most "
            f"{MAX_PROMPT_BYTES} bytes: shorten the history or the system prompt"
        )
    if not prompt.strip():
        raise BadRequest("the request has no text to send")
    return prompt


@dataclass(slots=True)
class FrameReader:
    """Feed decoded WebSocket text frames; get IR events; ``done`` at the end."""

    rid: str
    model: str
    done: bool = False
    active: bool = False
    error: tuple[str, str] | None = None  # (kind, message) the upstream reported
    _started: bool = False
    _next: int = 0
    _open: dict[str, int] = field(default_factory=dict)  # kind -> IR block index
    _seen: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, id) -> text so far
    _chars: int = 0

    def feed(self, text: str) -> list[ir.Event]:
        if self.done:
            return []
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(frame, dict):
            return []
        kind = frame.get("type")
        if kind == "state":
            return self._state(frame.get("state") or {})
        if kind == "update":
            out: list[ir.Event] = []
            for line in str(frame.get("buffer") or "").splitlines():
                out += self._update(line)
            return out
        if kind == "error":
            message = str(frame.get("message") or frame.get("error") or "cto.new reported an error")
            return self._fail("rate_limit" if is_quota_error(message) else "api_error", message)
        return []  # history, label, anything new

    def finish(self, usage: ir.Usage) -> list[ir.Event]:
        """The answer ended: close open blocks, usage, stop."""
        out = self._start()
        out += [ir.BlockEnd(i) for i in self._open.values()]
        self._open.clear()
        self.done = True
        return [*out, ir.UsageEvent(usage), ir.Stop(ir.StopReason.END_TURN)]

    @property
    def output_chars(self) -> int:
        return self._chars

    def _start(self) -> list[ir.Event]:
        if self._started:
            return []
        self._started = True
        return [ir.StreamStart(self.rid, self.model)]

    def _state(self, state: dict[str, Any]) -> list[ir.Event]:
        if state.get("cancelled"):
            return self._fail("api_error", "cto.new cancelled the answer")
        if state.get("inProgress"):
            self.active = True
            return []
        if self.active:  # not the idle frame on connect
            self.done = True
        return []

    def _fail(self, kind: str, message: str) -> list[ir.Event]:
        self.error = (kind, message)
        self.done = True
        return []

    def _update(self, line: str) -> list[ir.Event]:
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(item, dict) or item.get("role") == "user":
            return []
        kind = item.get("type")
        if kind not in ("chat", "thinking"):
            return []
        body = item.get(kind) or item.get("chat") or {}
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content:
            return []
        self.active = True
        key = (str(kind), str(item.get("id") or ""))
        before = self._seen.get(key, "")
        delta = content[len(before) :] if before and content.startswith(before) else content
        self._seen[key] = before + delta
        if not delta:
            return []
        out = self._start()
        if kind == "chat" and "thinking" in self._open:
            out.append(ir.BlockEnd(self._open.pop("thinking")))
        index = self._open.get(str(kind))
        if index is None:
            index = self._open[str(kind)] = self._next
            self._next += 1
        self._chars += len(delta)
        out.append(
            ir.TextDelta(index, delta) if kind == "chat" else ir.ReasoningDelta(index, delta)
        )
        return out
