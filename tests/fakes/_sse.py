"""Server-sent-event framing, byte-exact per provider.

The three providers frame SSE differently, and routers have broken on each
difference, so the fakes reproduce them rather than share one style:

* Anthropic and OpenAI Responses: ``event: NAME\\ndata: JSON\\n\\n``.
* OpenAI Chat Completions: ``data: JSON\\n\\n`` with no event name, then
  ``data: [DONE]\\n\\n``.
* Gemini (``alt=sse``): ``data: JSON\\r\\n\\r\\n`` (CRLF), no terminator,
  and JSON written by Google's serializer: ``": "`` after keys, no space
  after commas.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = [
    "DONE",
    "GOOGLE_ESCAPES",
    "HOLE",
    "GeminiTextFrames",
    "event",
    "gemini_data",
    "gemini_json",
    "read_events",
    "unnamed",
]

DONE = b"data: [DONE]\n\n"


def event(name: str, payload: Any) -> bytes:
    """A named event (Anthropic, OpenAI Responses)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def unnamed(payload: Any) -> bytes:
    """A data-only event (OpenAI Chat Completions)."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


GOOGLE_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "=": "\\u003d", "'": "\\u0027"}
)


def gemini_json(payload: Any) -> bytes:
    """JSON as Google's stream serializer writes it: ``{"a": 1,"b": 2}``, and
    HTML-sensitive characters escaped (``<`` as ``\\u003c``), which only
    occur inside strings, so escaping the whole text is safe."""
    text = json.dumps(payload, separators=(",", ": "), ensure_ascii=False)
    return text.translate(GOOGLE_ESCAPES).encode()


def gemini_data(payload: Any) -> bytes:
    """A Gemini ``alt=sse`` event, CRLF-framed."""
    return b"data: " + gemini_json(payload) + b"\r\n\r\n"


_HOLE = "\x00piece\x00"
_HOLE_JSON = b'"\\u0000piece\\u0000"'


class GeminiTextFrames:
    """Gemini SSE frames that differ only in one part's text.

    A streamed answer is dozens of chunks identical but for the text, so
    the chunk is serialised once around a hole and each piece is spliced
    in (one small string encode per chunk instead of a whole dump).
    """

    def __init__(self, template: Any) -> None:
        """``template``: a chunk whose varying text is :data:`HOLE`."""
        self.head, self.tail = gemini_json(template).split(_HOLE_JSON)

    def frame(self, text: str) -> bytes:
        """The ``data:`` event carrying ``text``."""
        piece = orjson.dumps(text).decode().translate(GOOGLE_ESCAPES).encode()
        return b"data: " + self.head + piece + self.tail + b"\r\n\r\n"


HOLE = _HOLE


def read_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event in ``text``, read the way any SSE client
    reads them (LF or CRLF framing; comments and empty events dropped)."""
    out: list[tuple[str | None, str]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((name, "\n".join(data)))
    return out
