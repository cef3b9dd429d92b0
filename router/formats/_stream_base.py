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

__all__ = ["DecoderBase"]


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

    # ------------------------------------------------------------------ events

    def feed(self, event: str | None, data: bytes) -> list[ir.Event]:
        """One SSE event (name or None, data) -> IR events."""
        if self._done:
            return []
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self._not_json(data)
        try:
            if isinstance(payload, dict):
                return self._event(event, payload)
            return self._other(event, payload)
        except MALFORMED as exc:
            self._done = True
            return [ir.StreamError(f"malformed event from upstream ({exc})", ErrorKind.API_ERROR)]

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
