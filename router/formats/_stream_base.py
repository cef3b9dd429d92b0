"""What every upstream stream decoder shares.

A decoder takes one SSE event at a time and returns the IR events it implies.
:class:`DecoderBase` parses the event's JSON, turns a body of the wrong shape
into a ``StreamError`` instead of a crash, and ends the stream once: after an
end mark, an error, or :meth:`~DecoderBase.finish`. Formats whose blocks the
decoder numbers itself (Chat, Gemini, Responses) also use its block
bookkeeping: one block open at a time, closed when the next one opens.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from router.errors import ErrorKind

from . import ir
from ._json import MALFORMED

__all__ = ["DecoderBase", "TextCut", "json_text"]


def json_text(span: bytes) -> str | None:
    """The text of ``span`` when it is one non-empty JSON string; None for anything else
    (not JSON, another value, ``""``): where a text event is read from its string alone."""
    try:
        value = orjson.loads(span)
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is str and value else None


class TextCut:
    """An upstream's text-delta event cut around its text, to read the next ones fast.

    Chat and Anthropic streams repeat one event for every piece of text, the same
    bytes but for the text (same id, model, index, nulls). Once an event decoded the
    usual way has shown where its text sits, a later event with the same bytes before
    and after carries nothing but its text: one small parse of the JSON string
    replaces parsing the whole event and walking it. The mirror of the encoders'
    ``sse_parts``. Anything else (another shape, a string that is not one JSON
    string) goes the usual way. The pieces of a tool call's arguments repeat one
    event the same way; the shape learnt last is the one read (``tool``).
    """

    __slots__ = ("_event", "_head", "_tail", "_least", "_learns", "_line", "index", "tool")

    #: How often a stream may teach a new shape (one whose events keep changing
    #: around the text, e.g. a random padding field, is then left to the usual way).
    LEARNS = 8

    def __init__(self) -> None:
        self._event: str | None = None
        self._head = b""
        self._tail = b""
        self._least = 0
        self._learns = self.LEARNS
        self._line: tuple[bytes, bytes] | None = None  # see line()
        self.index = -1  # the IR block the text goes to; -1: nothing learnt
        self.tool = False  # the text is a piece of a tool call's arguments (ToolCallDelta)

    def text(self, event: str | None, data: bytes) -> str | None:
        """The text of an event of the learnt shape; None for any other event."""
        if len(data) < self._least or not data.startswith(self._head) or event != self._event:
            return None
        if not data.endswith(self._tail) or self.index < 0:
            return None
        return json_text(data[len(self._head) : len(data) - len(self._tail)])

    def learn(self, event: str | None, data: bytes, ev: ir.TextDelta | ir.ToolCallDelta) -> None:
        """The SSE event (``event``, ``data``) was decoded into the one event ``ev``:
        remember where its text sits."""
        if self._learns <= 0:
            return
        self._learns -= 1
        if isinstance(ev, ir.ToolCallDelta):
            tool, text = True, ev.arguments_fragment
        else:
            tool, text = False, ev.text
        mark = orjson.dumps(text)
        if data.count(mark) != 1:  # written another way (escapes), or the text is elsewhere too
            self.index = -1
            return
        self._event = event
        self._head, _, self._tail = data.partition(mark)
        self._least = len(self._head) + len(self._tail) + 3  # a string of one character
        self.index = ev.index
        self.tool = tool
        self._line = None
        if not any(end in part for part in (self._head, self._tail) for end in (b"\n", b"\r")):
            name = b"" if event is None else b"event: " + event.encode() + b"\n"
            self._line = (name + b"data: " + self._head, self._tail + b"\n\n")

    def line(self) -> tuple[bytes, bytes] | None:
        """The learnt shape as the SSE bytes of a whole event (``data: `` after the
        event's name, if any, and the blank line): ``prefix + <JSON string> + suffix``
        is an event of that shape, read by :meth:`text` to the string's value. None when
        nothing is learnt, or the data spans lines."""
        return self._line if self.index >= 0 else None


class DecoderBase:
    """Upstream SSE events of one format -> IR events; subclasses read the payloads."""

    #: The error for an event whose data is not JSON.
    not_json: ClassVar[str] = "malformed event from upstream"
    #: The error for an upstream that closed before its end mark.
    truncated: ClassVar[str] = "upstream stream ended early"

    def __init__(self) -> None:
        self._done = False
        self._next = 0
        self._open: int | None = None
        self._open_kind = ""
        self._cut: TextCut | None = None  # set by decoders whose text events repeat a shape

    # ------------------------------------------------------------------ events

    def feed(self, event: str | None, data: bytes) -> list[ir.Event]:
        """One SSE event (name or None, data) -> IR events."""
        if self._done:
            return []
        cut = self._cut
        if cut is not None:
            text = cut.text(event, data)
            if text is not None and self._cut_open(cut.index, cut.tool):
                if cut.tool:
                    return [ir.ToolCallDelta(cut.index, text)]
                return [ir.TextDelta(cut.index, text)]
        if data == b"[DONE]":  # Chat's end mark, not JSON: spare the parser's error
            return self._not_json(data)
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._not_json(data)
        try:
            if not isinstance(payload, dict):
                return self._other(event, payload)
            out = self._event(event, payload)
        except MALFORMED as exc:
            self._done = True
            return [ir.StreamError(f"malformed event from upstream ({exc})", ErrorKind.API_ERROR)]
        if cut is not None and len(out) == 1:
            ev = out[0]
            if isinstance(ev, ir.TextDelta):
                if ev.text and self._cut_open(ev.index, False):
                    cut.learn(event, data, ev)
            elif isinstance(ev, ir.ToolCallDelta):
                if ev.arguments_fragment and self._cut_open(ev.index, True):
                    cut.learn(event, data, ev)
        return out

    def _cut_open(self, index: int, tool: bool) -> bool:
        """Whether a text delta (``tool``: an arguments delta) of block ``index`` is,
        right now, all an event of the learnt shape decodes to (see :class:`TextCut`)."""
        return False

    @property
    def cut(self) -> TextCut | None:
        """The text shape this decoder learns (:class:`TextCut`), if it learns one."""
        return self._cut

    def text_cut(self) -> TextCut | None:
        """The learnt text shape while each event it reads (:meth:`TextCut.text`) would
        decode to one ``TextDelta`` (``ToolCallDelta`` when ``tool``) of its ``index``
        and change nothing here; None otherwise. Valid until an event is fed the usual
        way."""
        cut = self._cut
        if cut is None or self._done or cut.index < 0 or not self._cut_open(cut.index, cut.tool):
            return None
        return cut

    def _event(self, event: str | None, payload: dict[str, Any]) -> list[ir.Event]:
        """One JSON object from the upstream -> IR events."""
        raise NotImplementedError

    def _other(self, event: str | None, payload: object) -> list[ir.Event]:
        """A JSON value that is not an object: nothing, unless the format says otherwise."""
        return []

    def _not_json(self, data: bytes) -> list[ir.Event]:
        if not data.strip():
            return []  # an empty event carries nothing
        self._done = True
        return [ir.StreamError(self.not_json, ErrorKind.API_ERROR)]

    def finish(self) -> list[ir.Event]:
        """The upstream closed: the stop its last events imply, or a ``StreamError``."""
        if self._done:
            return []
        out = self._at_close()
        self._done = True
        return out if out is not None else [ir.StreamError(self.truncated, ErrorKind.API_ERROR)]

    def _at_close(self) -> list[ir.Event] | None:
        """How a stream ends when the upstream closes without an end mark; None: in error."""
        return None

    def _stop(self, usage: ir.Usage | None, stop: ir.Stop) -> list[ir.Event]:
        """End the stream: close the open block, then the usage (if known) and the stop."""
        self._done = True
        out = self._close()
        if usage is not None:
            out.append(ir.UsageEvent(usage))
        out.append(stop)
        return out

    # ------------------------------------------------------------------ blocks

    def _alloc(self) -> int:
        """The next IR block index."""
        index = self._next
        self._next += 1
        return index

    def _close(self) -> list[ir.Event]:
        if self._open is None:
            return []
        index, self._open, self._open_kind = self._open, None, ""
        return [ir.BlockEnd(index)]

    def _new(self, kind: str) -> tuple[list[ir.Event], int]:
        """Open a block of ``kind`` (closing the open one): (events, its index)."""
        out = self._close()
        self._open, self._open_kind = self._alloc(), kind
        return out, self._open

    def _into(self, kind: str, out: list[ir.Event]) -> int:
        """The index of the open block if it is of ``kind``, else of a new one (events to ``out``)."""
        if self._open_kind == kind and self._open is not None:
            return self._open
        events, index = self._new(kind)
        out += events
        return index
