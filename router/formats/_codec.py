"""One shape for every format: what a codec does, and the types it hands over.

A :class:`Codec` reads and writes one format: requests into the IR and out of
it, answers the same way, and a decoder / encoder pair for streams. Every
format's codec has the same signatures, so the code that picks one by
:class:`~router.formats.ir.Format` (``CODECS``) stays typed and has no special
case for any format. What rendering an answer needs beyond the answer itself
(the model name the client asked for, the request id, the request's tools) is
one :class:`Context`.

A request leaves as a :class:`WireBody`: its JSON as data, its bytes made once
and only when first asked for, so whoever sends it can still change a field
first without the body being serialized twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from router.errors import ErrorKind

from . import ir

__all__ = ["Codec", "Context", "Decoder", "Encoder", "WireBody"]


@dataclass(frozen=True, slots=True)
class Context:
    """What writing an answer for the client needs besides the answer.

    ``tools`` are the client request's IR tools: a Responses client gets calls
    of namespaced and free-form (``custom``) tools back in their own shape; the
    other formats have no such shapes and ignore them.
    """

    model: str  # the model name the client asked for
    request_id: str = ""
    tools: tuple[ir.Tool, ...] = ()


class WireBody:
    """A JSON body on its way out: ``data``, and its bytes made once, when first needed.

    Built from data (a translated request) the bytes are made by the first
    :meth:`encoded`; built with ``raw`` (the client's own bytes, when they are
    already what goes out, or those bytes with one exact edit) they are those.
    :meth:`edit` hands out the data to change before sending: a shallow copy
    owned by this body (nested values are still shared with whoever built it:
    replace them, do not change them in place), and bytes made earlier are
    dropped. :meth:`fork` gives each upstream attempt a body of its own, so an
    executor's edits never reach the next candidate; bytes a fork makes without
    an edit are kept for the others. :meth:`from_bytes` wraps bytes whose data
    is parsed only if someone asks for it; :meth:`lazy` takes what the data is from
    whoever holds it parsed already, or knows how to check it.
    """

    __slots__ = ("_data", "_raw", "_owned", "_parent", "_load")

    def __init__(self, data: ir.JSONObject | None, raw: bytes | None = None) -> None:
        if data is None and raw is None:
            raise ValueError("a WireBody needs its data or its bytes")
        self._data = data
        self._raw = raw
        self._owned = False
        self._parent: WireBody | None = None
        self._load: Callable[[], ir.JSONObject] | None = None

    @classmethod
    def from_bytes(cls, raw: bytes) -> WireBody:
        """Bytes already serialized (a JSON object); parsed only when ``data`` is read."""
        return cls(None, raw)

    @classmethod
    def lazy(cls, raw: bytes, load: Callable[[], ir.JSONObject]) -> WireBody:
        """Bytes to send as they are, whose data ``load`` gives only if someone reads it
        (the client's body relayed as sent: parsed once, by its owner, if at all)."""
        body = cls(None, raw)
        body._load = load
        return body

    @property
    def data(self) -> ir.JSONObject:
        """The body as data (read only: see :meth:`edit`)."""
        data = self._data
        if data is None:
            if self._load is not None:
                data = self._data = self._load()
                return data
            assert self._raw is not None
            parsed = orjson.loads(self._raw)
            if not isinstance(parsed, dict):
                raise TypeError("a WireBody holds a JSON object")
            data = self._data = parsed
        return data

    @property
    def encoded_yet(self) -> bool:
        """Whether the bytes exist already (the client's, or made by :meth:`encoded`)."""
        return self._raw is not None

    def edit(self) -> ir.JSONObject:
        """The data to change before the body is sent."""
        if not self._owned:
            self._data = dict(self.data)
            self._owned = True
        self._raw = None
        return self._data  # type: ignore[return-value]

    def encoded(self) -> bytes:
        """The body's bytes, serialized at most once per edit."""
        raw = self._raw
        if raw is None:
            raw = self._raw = orjson.dumps(self._data)
            parent = self._parent
            if parent is not None and not self._owned and parent._raw is None:
                parent._raw = raw  # the same data: the next attempt need not make them again
        return raw

    def fork(self) -> WireBody:
        """A body for one attempt: the same data and bytes, its edits its own."""
        child = WireBody(self._data, self._raw)
        child._parent = self
        child._load = self._load
        return child


class Decoder(Protocol):
    """Upstream stream events of one format -> IR events (see ``ir``'s stream rules)."""

    def feed(self, event: str | None, data: bytes) -> list[ir.Event]:
        """One SSE event (its name or None, its data) -> IR events."""
        ...

    def finish(self) -> list[ir.Event]:
        """The upstream closed: the end its last events imply, or a ``StreamError``."""
        ...


class Encoder(Protocol):
    """IR events -> the client's stream bytes, one event at a time."""

    def encode(self, ev: ir.Event) -> bytes: ...

    def error(self, message: str, kind: ErrorKind = ErrorKind.API_ERROR) -> bytes:
        """The format's error event; nothing follows it."""
        ...


class Codec(Protocol):
    """One wire format, both ways. Raises ``ir.TranslationError`` naming the field."""

    @property
    def format(self) -> ir.Format: ...

    def request_to_ir(self, body: ir.JSONObject) -> ir.Request:
        """A client request of this format."""
        ...

    def request_from_ir(self, req: ir.Request, model: str, stream: bool) -> WireBody:
        """The request for an upstream of this format, for ``model``."""
        ...

    def response_to_ir(self, body: ir.JSONObject) -> ir.Response:
        """An upstream's complete answer (one of the wrong shape is a TranslationError)."""
        ...

    def response_from_ir(self, resp: ir.Response, ctx: Context) -> ir.JSONObject:
        """The complete answer for a client of this format."""
        ...

    def stream_decoder(self) -> Decoder:
        """A decoder for one upstream stream of this format."""
        ...

    def stream_encoder(self, ctx: Context) -> Encoder:
        """An encoder for one client stream of this format."""
        ...
