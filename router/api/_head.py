"""The fast check of a client body: validate it whole, build only what routing reads.

A turn's body is mostly text the router never reads when it relays the body as
sent (Claude Code's 88 KB turn, a long session's 500 KB). simdjson validates
the whole document (structure, numbers, escapes, UTF-8) into its own tape, at
several bytes a nanosecond, and the few fields an endpoint checks are read off
that tape: 23 us for the turn and 160 us for the session, against 90 and 500
us for ``orjson.loads``, and no Python objects of the text for the collector to
walk and free (docs/performance.md has the measurements and the alternatives).

Each endpoint's check here is never looser than its own (``_checked`` in the
endpoint's module): a body it refuses goes the slow way, parsed whole and
checked field by field, so its error names the field exactly as before; a
body refused here that the slow way accepts (an integer past 64 bits) is
served all the same, only dearer.

One parser serves the process (its buffers are reused, so a big body costs no
fresh memory each time; a body over 2 MB gets a parser of its own, or the
shared one would keep buffers five times its size for good); its document
must be let go before the next parse, so nothing read off it leaves a check
but plain ``str``, ``int`` and ``bool``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import simdjson

from router.formats import SIGNATURE_TAG

__all__ = ["CHAT", "GEMINI", "MESSAGES", "RESPONSES", "Head", "Shape", "fast_head"]


@dataclass(frozen=True, slots=True)
class Head:
    """What routing reads of a body (Gemini's model is in its path: empty here).

    ``tagged``: whether the body holds a signature this gateway tagged for another
    provider, where its format's cleaner looks (``router.formats._foreign``); None
    when the check did not look, and the bytes are searched for the tag instead.
    """

    model: str
    stream: bool
    tagged: bool | None = None


#: Reads a document's head, or None when it is not of the endpoint's shape.
Shape = Callable[[Any], Head | None]

_Object = simdjson.Object
_Array = simdjson.Array


_SHARED = 2 * 1024 * 1024  # agent bodies reach about a megabyte


class _Reader:
    """The process's parser, renewed if a document was ever kept past its check."""

    def __init__(self) -> None:
        self.parser = simdjson.Parser()

    def head(self, shape: Shape, raw: bytes) -> Head | None:
        # A parser keeps buffers of about five times the biggest body it has read: one
        # 32 MB body would pin 160 MB for good. Bodies past _SHARED get a parser of
        # their own, freed with its document.
        parser = self.parser if len(raw) <= _SHARED else simdjson.Parser()
        try:
            doc = parser.parse(raw)
        except RuntimeError as exc:
            if not str(exc).startswith("Tried to re-use"):
                return None  # too deep, an integer past 64 bits
            self.parser = simdjson.Parser()
            return self.head(shape, raw)
        except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError)
            return None
        try:
            return shape(doc) if type(doc) is _Object else None
        finally:
            del doc


_READER = _Reader()


def fast_head(shape: Shape, raw: bytes) -> Head | None:
    """``raw``'s head if the whole body is JSON of ``shape``; None when it is not (or not
    for sure), and the caller parses it whole to say what is wrong."""
    return _READER.head(shape, raw)


def _model(doc: Any) -> str | None:
    model = doc.get("model")
    return model if type(model) is str and model else None


def _stream(doc: Any) -> bool | None:
    """``stream`` as a bool (absent or null: False), None when it is something else."""
    stream = doc.get("stream")
    if stream is None:
        return False
    return stream if type(stream) is bool else None


def _array(doc: Any, key: str) -> Any:
    """``doc[key]`` if it is a non-empty array, else None."""
    value = doc.get(key)
    return value if type(value) is _Array and len(value) else None


_ANTHROPIC_ROLES = ("user", "assistant")
_TAG = SIGNATURE_TAG.decode()
#: Where an Anthropic block carries a signature: the block's type -> the signature's key.
_SIGNED = {"thinking": "signature", "redacted_thinking": "data"}


def _messages(doc: Any) -> Head | None:
    """Anthropic Messages, as ``router.api._anthropic._checked``; and whether an
    assistant's thinking block holds a tagged signature (the blocks are on the tape
    already: looking at the assistant turns' block types costs half what searching the
    body's bytes for the tag does). Thinking is an assistant's: a tagged block in a
    user turn, which no client sends, is relayed as it came."""
    model, stream = _model(doc), _stream(doc)
    if model is None or stream is None or type(doc.get("max_tokens")) is not int:
        return None
    messages = _array(doc, "messages")
    if messages is None:
        return None
    tagged = False
    for msg in messages:
        if type(msg) is not _Object:
            return None
        role = msg.get("role")
        if role not in _ANTHROPIC_ROLES:
            return None
        content = msg.get("content")
        if type(content) is _Array:
            if role == "assistant" and not tagged:  # thinking is only an assistant's
                tagged = _signed(content)
        elif type(content) is not str:
            return None
    return Head(model, stream, tagged)


def _signed(blocks: Any) -> bool:
    """Whether a block of ``blocks`` carries a signature this gateway tagged."""
    for block in blocks:
        if type(block) is _Object:
            key = _SIGNED.get(block.get("type"))  # type: ignore[arg-type]
            if key is not None:
                value = block.get(key)
                if type(value) is str and value.startswith(_TAG):
                    return True
    return False


_CHAT_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def _chat(doc: Any) -> Head | None:
    """OpenAI Chat Completions, as ``router.api._openai._checked``."""
    model, stream = _model(doc), _stream(doc)
    messages = _array(doc, "messages")
    if model is None or stream is None or messages is None:
        return None
    for msg in messages:
        if type(msg) is not _Object:
            return None
        role = msg.get("role")
        if type(role) is not str or role not in _CHAT_ROLES:
            return None
    return Head(model, stream)


def _responses(doc: Any) -> Head | None:
    """OpenAI Responses, as ``router.api._responses._checked``."""
    model, stream = _model(doc), _stream(doc)
    given = doc.get("input")
    if model is None or stream is None or doc.get("previous_response_id") is not None:
        return None
    if type(given) is not str and type(given) is not _Array:
        return None
    return Head(model, stream)


def _gemini(doc: Any) -> Head | None:
    """Gemini ``generateContent``, as ``router.api._gemini._checked`` (model and stream
    come from the path)."""
    contents = _array(doc, "contents")
    if contents is None:
        return None
    for item in contents:
        if type(item) is not _Object or type(item.get("parts")) is not _Array:
            return None
    return Head("", False)


MESSAGES: Shape = _messages
CHAT: Shape = _chat
RESPONSES: Shape = _responses
GEMINI: Shape = _gemini
