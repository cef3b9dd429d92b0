"""The fast check of a client body: validate it whole, build only what routing reads.

A turn's body is mostly text the router never reads when it relays the body as
sent (Claude Code's 88 KB turn, a long session's 500 KB). ``msgspec`` decodes
each endpoint's *head* (the model, ``stream``, the fields the endpoint checks,
each message's role) into a typed struct and skips everything else, checking
that it is JSON without making Python objects of it: 200 us for the 495 KB
session against 500 us for ``orjson.loads``, and nothing for the collector to
walk or free afterwards. Strings it skips are not decoded, so their UTF-8 is
checked apart, by the codec (about 3.5 GB/s, nothing when the body is ASCII).

The head types are never looser than the endpoint's own checks
(``router.api._shapes``): a body they refuse goes the slow way, parsed whole
and checked field by field, so its error names the field exactly as before,
and a body they refuse that the checks accept (an integer past 2**63, a
duplicate key whose first value is of the wrong type) is served all the same.
Where the fast way accepts what a full parse would refuse, and why that is
the decision, is in docs/performance.md.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

import msgspec

__all__ = [
    "ChatHead",
    "GeminiHead",
    "Head",
    "MessagesHead",
    "ResponsesHead",
    "TurnHead",
    "fast_head",
]

_Model = Annotated[str, msgspec.Meta(min_length=1)]
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class Head(msgspec.Struct):
    """What routing reads of every body (Gemini's model is in its path)."""

    stream: bool | None = None


class TurnHead(Head, kw_only=True):
    """A body that names its model."""

    model: _Model


class _AnthropicMessage(msgspec.Struct):
    role: Literal["user", "assistant"]
    content: str | list[msgspec.Raw]


class MessagesHead(TurnHead, kw_only=True):
    """Anthropic Messages: as ``_anthropic._check_messages`` and its caller check it."""

    max_tokens: _Int64
    messages: Annotated[list[_AnthropicMessage], msgspec.Meta(min_length=1)]


class _ChatMessage(msgspec.Struct):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatHead(TurnHead, kw_only=True):
    """OpenAI Chat Completions."""

    messages: Annotated[list[_ChatMessage], msgspec.Meta(min_length=1)]


class ResponsesHead(TurnHead, kw_only=True):
    """OpenAI Responses: no ``previous_response_id`` (nothing is stored here)."""

    input: str | list[msgspec.Raw]
    previous_response_id: None = None


class _GeminiContent(msgspec.Struct):
    parts: list[msgspec.Raw]


class GeminiHead(Head, kw_only=True):
    """Gemini ``generateContent`` and ``streamGenerateContent`` (``stream`` unused)."""

    contents: Annotated[list[_GeminiContent], msgspec.Meta(min_length=1)]


H = TypeVar("H", bound=Head)

_DECODERS: dict[type[Head], msgspec.json.Decoder[Head]] = {}


def fast_head(kind: type[H], raw: bytes) -> H | None:
    """``raw``'s head if the whole body is JSON of ``kind``'s shape; None when it is not
    (or not for sure), and the caller parses it whole to say what is wrong."""
    dec = _DECODERS.get(kind)
    if dec is None:
        dec = _DECODERS[kind] = msgspec.json.Decoder(kind)
    try:
        head = dec.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None  # ValidationError is a DecodeError
    if not raw.isascii():
        try:
            raw.decode()  # the strings msgspec skipped were not decoded
        except UnicodeDecodeError:
            return None
    return head  # type: ignore[return-value]
