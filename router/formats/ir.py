"""The canonical representation every format translates through.

A client request is turned into a :class:`Request`, the upstream answer into a
:class:`Response` or a sequence of stream :data:`Event` values, and each format
module renders them back in its own wire shape. Nothing here does I/O.

Conventions the format modules rely on:

* ``Request.system`` holds the leading system / developer instructions.
  A system message that appears *after* the conversation started is kept in
  place as a ``Message`` with ``Role.SYSTEM``.
* Tool calls carry the id the client will see; ``ToolResult.call_id`` pairs
  with it. ``ToolResult.name`` is always filled (formats without a name on
  results look it up from the call), because Gemini pairs by name.
* ``Reasoning.signature`` is the opaque value that proves the reasoning to the
  provider that produced it (Anthropic ``signature`` / ``data``, Gemini
  ``thoughtSignature``, Responses ``encrypted_content``); ``source`` names that
  provider's format, so a signature is never sent to another provider.
* Token counts: ``Usage.input_tokens`` includes cached input,
  ``Usage.output_tokens`` includes reasoning tokens.
* Stream events: every block opens with its first event (``TextDelta``,
  ``ReasoningDelta`` / ``ReasoningSignature`` or ``ToolCallStart``) and closes
  with ``BlockEnd``; indexes are unique per response and blocks do not
  interleave. A decoder emits at most one ``UsageEvent``, right before the
  single final ``Stop``, or a ``StreamError`` instead of the ``Stop``.
  :func:`aggregate` folds events into a :class:`Response`; :func:`to_events`
  splits one back into events.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from router.errors import ErrorKind

from ._quick import quick as _quick

__all__ = [
    "BlockEnd",
    "ContentPart",
    "Event",
    "Format",
    "Image",
    "JSONObject",
    "JSONValue",
    "Message",
    "Part",
    "Reasoning",
    "ReasoningDelta",
    "ReasoningSignature",
    "Request",
    "Response",
    "ResponseFormat",
    "Role",
    "Stop",
    "StopReason",
    "StreamError",
    "StreamFailed",
    "StreamStart",
    "Text",
    "TextDelta",
    "Thinking",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallStart",
    "ToolChoice",
    "ToolResult",
    "TranslationError",
    "Usage",
    "UsageEvent",
    "aggregate",
    "to_events",
]

JSONValue: TypeAlias = "None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]"
JSONObject: TypeAlias = "dict[str, JSONValue]"


class Format(enum.StrEnum):
    """A wire format a client speaks or an upstream expects.

    The one list of formats, for routing (which path serves a request) and for
    the IR (which provider issued a signature). The value is the name access
    logs, metrics (``format`` label) and usage records carry, so it stays put.
    """

    OPENAI = "openai"  # Chat Completions
    RESPONSES = "responses"  # OpenAI Responses
    ANTHROPIC = "anthropic"  # Messages
    GEMINI = "gemini"  # generateContent


class TranslationError(ValueError):
    """The input cannot be translated; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class StreamFailed(RuntimeError):
    """Raised by :func:`aggregate` when the stream ended in an error."""

    def __init__(self, message: str, kind: ErrorKind) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class StopReason(enum.StrEnum):
    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    TOOL_USE = "tool_use"
    STOP_SEQUENCE = "stop_sequence"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"


# --------------------------------------------------------------------------- parts


@_quick
@dataclass(frozen=True, slots=True)
class Text:
    text: str


@_quick
@dataclass(frozen=True, slots=True)
class Image:
    """An image: ``data`` (base64, no data-URL prefix) or ``url``, never both."""

    media_type: str
    data: str | None = None
    url: str | None = None


ContentPart: TypeAlias = Text | Image


@_quick
@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text of an object, as the model produced it


@_quick
@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    name: str
    content: tuple[ContentPart, ...] = ()
    is_error: bool = False


@_quick
@dataclass(frozen=True, slots=True)
class Reasoning:
    text: str = ""
    signature: str | None = None
    redacted: bool = False  # Anthropic redacted_thinking: signature holds its data
    source: Format | None = None  # the format whose provider issued the signature


Part: TypeAlias = Text | Image | ToolCall | ToolResult | Reasoning


@_quick
@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: tuple[Part, ...]


# --------------------------------------------------------------------------- request


@_quick
@dataclass(frozen=True, slots=True)
class Tool:
    """A function tool. ``parameters`` is a JSON Schema object (read-only).

    ``namespace`` is set for tools that came from a Responses ``namespace``
    group; ``name`` is then the flattened ``<namespace>__<name>``. A Responses
    ``custom`` (free-form input) tool has ``kind="custom"`` and is described to
    other formats as a function taking one string argument, ``input``.
    """

    name: str
    description: str = ""
    parameters: JSONObject = field(default_factory=dict)
    strict: bool | None = None
    namespace: str | None = None
    kind: Literal["function", "custom"] = "function"


@_quick
@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None  # for mode "tool"


@_quick
@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    schema: JSONObject | None = None
    name: str | None = None
    strict: bool | None = None


@_quick
@dataclass(frozen=True, slots=True)
class Thinking:
    """Reasoning settings: a token budget, an effort level, or both."""

    enabled: bool = True
    budget_tokens: int | None = None
    effort: str | None = None  # minimal | low | medium | high | xhigh
    include_thoughts: bool = True  # return reasoning text / summaries


@_quick
@dataclass(frozen=True, slots=True)
class Request:
    messages: tuple[Message, ...]
    system: tuple[Text, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    response_format: ResponseFormat | None = None
    thinking: Thinking | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stream: bool = False
    user: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- response


@_quick
@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0  # includes cached and cache-creation input
    output_tokens: int = 0  # includes reasoning
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cache_creation_input_tokens: int = 0


@_quick
@dataclass(frozen=True, slots=True)
class Response:
    id: str
    model: str
    content: tuple[Part, ...]
    stop_reason: StopReason
    usage: Usage = field(default_factory=Usage)
    stop_sequence: str | None = None


# --------------------------------------------------------------------------- stream events


@_quick
@dataclass(frozen=True, slots=True)
class StreamStart:
    id: str
    model: str


@_quick
@dataclass(frozen=True, slots=True)
class TextDelta:
    index: int
    text: str


@_quick
@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    index: int
    text: str


@_quick
@dataclass(frozen=True, slots=True)
class ReasoningSignature:
    index: int
    signature: str
    redacted: bool = False
    source: Format | None = None


@_quick
@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    id: str
    name: str


@_quick
@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments_fragment: str


@_quick
@dataclass(frozen=True, slots=True)
class BlockEnd:
    index: int


@_quick
@dataclass(frozen=True, slots=True)
class UsageEvent:
    usage: Usage


@_quick
@dataclass(frozen=True, slots=True)
class Stop:
    reason: StopReason
    stop_sequence: str | None = None


@_quick
@dataclass(frozen=True, slots=True)
class StreamError:
    message: str
    kind: ErrorKind = ErrorKind.API_ERROR


Event: TypeAlias = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | ReasoningSignature
    | ToolCallStart
    | ToolCallDelta
    | BlockEnd
    | UsageEvent
    | Stop
    | StreamError
)


# --------------------------------------------------------------------------- aggregate


class _Block:
    __slots__ = ("kind", "parts", "signature", "redacted", "source", "call_id", "name")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.parts: list[str] = []
        self.signature: str | None = None
        self.redacted = False
        self.source: Format | None = None
        self.call_id = ""
        self.name = ""

    def part(self) -> Part:
        text = "".join(self.parts)
        if self.kind == "text":
            return Text(text)
        if self.kind == "tool":
            return ToolCall(self.call_id, self.name, text or "{}")
        return Reasoning(text, self.signature, self.redacted, self.source)


def aggregate(events: Iterable[Event]) -> Response:
    """Fold a decoded stream into a :class:`Response` (non-stream client).

    Raises :class:`StreamFailed` when the stream carries a ``StreamError`` or
    ends without a ``Stop``.
    """
    rid = ""
    model = ""
    blocks: dict[int, _Block] = {}
    usage = Usage()
    stop: Stop | None = None
    for ev in events:
        if isinstance(ev, StreamStart):
            rid, model = ev.id, ev.model
        elif isinstance(ev, TextDelta):
            blocks.setdefault(ev.index, _Block("text")).parts.append(ev.text)
        elif isinstance(ev, ReasoningDelta):
            blocks.setdefault(ev.index, _Block("reasoning")).parts.append(ev.text)
        elif isinstance(ev, ReasoningSignature):
            block = blocks.setdefault(ev.index, _Block("reasoning"))
            block.signature = (block.signature or "") + ev.signature
            block.redacted = block.redacted or ev.redacted
            block.source = ev.source
        elif isinstance(ev, ToolCallStart):
            block = blocks.setdefault(ev.index, _Block("tool"))
            block.call_id, block.name = ev.id, ev.name
        elif isinstance(ev, ToolCallDelta):
            blocks.setdefault(ev.index, _Block("tool")).parts.append(ev.arguments_fragment)
        elif isinstance(ev, UsageEvent):
            usage = ev.usage
        elif isinstance(ev, Stop):
            stop = ev
        elif isinstance(ev, StreamError):
            raise StreamFailed(ev.message, ev.kind)
    if stop is None:
        raise StreamFailed("upstream stream ended without a stop", ErrorKind.API_ERROR)
    content = tuple(blocks[i].part() for i in sorted(blocks))
    return Response(rid, model, content, stop.reason, usage, stop.stop_sequence)


def to_events(resp: Response) -> list[Event]:
    """Split a complete answer into stream events (stream client, non-stream upstream):
    one delta per block, so it still streams in the client's own event shapes."""
    out: list[Event] = [StreamStart(resp.id, resp.model)]
    for index, part in enumerate(resp.content):
        if isinstance(part, Text):
            out.append(TextDelta(index, part.text))
        elif isinstance(part, Reasoning):
            if part.text:
                out.append(ReasoningDelta(index, part.text))
            if part.signature:
                out.append(ReasoningSignature(index, part.signature, part.redacted, part.source))
        elif isinstance(part, ToolCall):
            out.append(ToolCallStart(index, part.id, part.name))
            out.append(ToolCallDelta(index, part.arguments))
        else:
            continue
        out.append(BlockEnd(index))
    out.append(UsageEvent(resp.usage))
    out.append(Stop(resp.stop_reason, resp.stop_sequence))
    return out
