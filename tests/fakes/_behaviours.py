"""What a fake upstream does with the next model request.

A test scripts an upstream by queueing these small frozen values; each fake
renders them in its own provider's wire format. Keeping the script
provider-neutral is what lets one test drive "the same" failure through
Anthropic, OpenAI and Gemini and compare the router's answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Behaviour",
    "Delay",
    "Fail",
    "FailAfter",
    "Hang",
    "Reply",
    "ResetAfter",
    "ToolCall",
    "split_text",
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function/tool call the fake model makes.

    ``id`` is used verbatim where the provider has an id (Anthropic
    ``tool_use.id``, OpenAI ``tool_calls[].id``, Responses ``call_id``);
    the Gemini API has none and drops it, as Google does.
    """

    id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer.

    ``chunks``: how many streamed text deltas (default: one per word).
    ``usage``: ``(input_tokens, output_tokens)``; ``None`` estimates both
    (input = request body bytes // 4, output = output characters // 4, at
    least 1) so numbers are deterministic without being scripted.
    ``stop``: an Anthropic-style reason (``end_turn``, ``max_tokens``,
    ``stop_sequence``, ``tool_use``, ``refusal``) mapped to each provider's
    own value, or any provider-native value passed through unchanged.
    ``chunk_delay``: seconds between streamed events (pacing for tests of
    cancellation and time-to-first-byte).
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    thinking: str | None = None
    chunks: int | None = None
    usage: tuple[int, int] | None = None
    stop: str | None = None
    model: str | None = None
    chunk_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Fail:
    """An error answer with the provider's real status, headers and body.

    ``kind`` overrides the provider's error type for that status (e.g.
    OpenAI ``insufficient_quota`` instead of ``rate_limit_exceeded``).
    """

    status: int
    retry_after: float | None = None
    message: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Hang:
    """Read the request, then never answer until the fake closes."""


@dataclass(frozen=True, slots=True)
class ResetAfter:
    """Send 200, headers and ``chunks`` stream events, then abort the TCP
    connection with no terminator (a non-stream request gets half its body).

    ``reply`` supplies the content; ``None`` uses the fake's default reply.
    """

    chunks: int = 1
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class FailAfter:
    """Stream ``chunks`` events, then the provider's own in-stream error
    event (Anthropic ``event: error``, OpenAI ``data: {"error": ...}``,
    Responses ``response.failed``, Gemini ``data: {"error": ...}``) and a
    clean end: how a real upstream fails after it has sent 200. A
    non-stream request gets the plain :class:`Fail` answer instead.
    """

    chunks: int = 1
    status: int = 529
    message: str | None = None
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait ``seconds`` (cut short when the fake closes), then behave as
    ``then`` (``None``: the fake's default)."""

    seconds: float
    then: Behaviour | None = None


Behaviour = Reply | Fail | FailAfter | Hang | ResetAfter | Delay

_WORDS = re.compile(r"\s*\S+\s*|\s+")


def split_text(text: str, chunks: int | None) -> list[str]:
    """Split ``text`` into stream deltas whose concatenation is ``text``.

    Default: one piece per word (leading/trailing spaces stay attached, as
    real tokenisers attach them). ``chunks=N``: N pieces of near-equal
    character length.
    """
    if not text:
        return []
    if chunks is None:
        return _WORDS.findall(text)
    n = max(1, min(chunks, len(text)))
    step, extra = divmod(len(text), n)
    out: list[str] = []
    pos = 0
    for i in range(n):
        size = step + (1 if i < extra else 0)
        out.append(text[pos : pos + size])
        pos += size
    return out
