"""An upstream's answer re-rendered for a client of another format.

Non-stream answers go upstream format -> IR -> client format in one call;
streams go event by event through the upstream's decoder and the client's
encoder, nothing buffered beyond what a single event needs. Errors are left
to the caller: an answer that cannot be read raises ``ir.TranslationError``,
a stream that fails ends in the client format's error event and is kept in
:attr:`StreamTranslator.failure`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable

import orjson

from router.errors import ErrorKind

from . import ir
from ._codec import Context
from ._codecs import CODECS
from ._sse import SSEParser
from ._stream_base import DecoderBase

__all__ = ["StreamTranslator", "translate_response", "translated_chunks"]


def translate_response(
    data: bytes, source: ir.Format, client: ir.Format, ctx: Context
) -> tuple[bytes, ir.Usage]:
    """An upstream's complete answer (bytes of ``source``) as the client's body, and its
    usage; an answer that is not JSON or not of the source's shape is a TranslationError."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ir.TranslationError("body", f"not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise ir.TranslationError("body", "expected an object")
    resp = CODECS[source].response_to_ir(parsed)
    return orjson.dumps(CODECS[client].response_from_ir(resp, ctx)), resp.usage


#: A run of text events relayed without the event layers: the upstream event's bytes
#: around its JSON string (prefix, suffix, and the suffix without its blank line), and
#: the client's frame around the same string (head, tail).
_TextRun = tuple[bytes, bytes, bytes, bytes, bytes]


class StreamTranslator:
    """Upstream stream bytes in, client stream bytes out, one piece at a time.

    ``sse`` is false for a Gemini client that asked for a JSON array instead of
    SSE (no ``alt=sse``): its events are then written as the array's elements.

    Nearly every event of a long answer is a piece of text in the shape the one
    before had. Once the decoder has learnt that shape (``TextCut``) and both sides
    say such an event changes nothing (``DecoderBase.text_line``, the encoder's
    ``text_frame``), a read made only of such events goes from the upstream's bytes
    to the client's with one parse and one dump of each JSON string, no SSE parse and
    no IR event: the same bytes the layers would give. Any other read goes through
    the layers, after which the shortcut is looked up again.
    """

    __slots__ = (
        "_parser",
        "_decoder",
        "_encoder",
        "_array",
        "_array_open",
        "_frame_of",
        "_run",
        "usage",
        "failure",
    )

    def __init__(
        self,
        source: ir.Format,
        client: ir.Format,
        model: str,
        request_id: str,
        *,
        sse: bool = True,
        tools: tuple[ir.Tool, ...] = (),
    ) -> None:
        self._parser = SSEParser()
        self._decoder = CODECS[source].stream_decoder()
        self._encoder = CODECS[client].stream_encoder(Context(model, request_id, tools))
        self._array = client is ir.Format.GEMINI and not sse
        self._array_open = False
        frame_of = getattr(self._encoder, "text_frame", None)
        self._frame_of: Callable[[int], tuple[bytes, bytes] | None] | None = (
            frame_of if isinstance(self._decoder, DecoderBase) and not self._array else None
        )
        self._run: _TextRun | None = None
        self.usage = ir.Usage()
        self.failure: ir.StreamError | None = None

    def feed(self, chunk: bytes) -> bytes:
        """The client's bytes for one upstream chunk (empty until an event completes)."""
        run = self._run
        if run is not None:
            out = _texts(run, chunk)
            if out is not None:
                return out
        frames: list[bytes] = []
        decode, encode = self._decoder.feed, self._encode
        for event, data in self._parser.feed(chunk):
            for ev in decode(event, data):
                frame = encode(ev)
                if frame:
                    frames.append(frame)
        if self._frame_of is not None:
            self._run = self._text_run(self._frame_of)
        return frames[0] if len(frames) == 1 else b"".join(frames)

    def _text_run(self, frame_of: Callable[[int], tuple[bytes, bytes] | None]) -> _TextRun | None:
        """The shortcut for the next reads (see the class), or None."""
        decoder = self._decoder
        if not isinstance(decoder, DecoderBase) or not self._parser.idle():
            return None
        line = decoder.text_line()
        if line is None:
            return None
        prefix, suffix, index = line
        frame = frame_of(index)
        if frame is None:
            return None
        return prefix, suffix, suffix[:-2], frame[0], frame[1]

    def finish(self) -> bytes:
        """The upstream ended: flush, and end in error if it never finished properly."""
        self._run = None
        frames: list[bytes] = []
        for event, data in self._parser.finish():
            frames += map(self._encode, self._decoder.feed(event, data))
        frames += map(self._encode, self._decoder.finish())
        if self._array and self._array_open:
            frames.append(b"]")
        return b"".join(frames)

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The client format's error frame for a failure the decoder did not see."""
        self._run = None
        return self._encode(ir.StreamError(message, kind)) + (
            b"]" if self._array and self._array_open else b""
        )

    def _encode(self, ev: ir.Event) -> bytes:
        if isinstance(ev, ir.StreamError):
            self.failure = ev
            frame = self._encoder.error(ev.message, ev.kind)
        else:
            if isinstance(ev, ir.UsageEvent):
                self.usage = ev.usage
            frame = self._encoder.encode(ev)
        if self._array and frame:
            return self._to_array(frame)
        return frame

    def _to_array(self, frames: bytes) -> bytes:
        """Gemini without ``alt=sse`` streams one JSON array: ``[{..}\\r\\n,{..}]``."""
        out = bytearray()
        for _, data in SSEParser().feed(frames):
            out += b"\r\n," if self._array_open else b"["
            self._array_open = True
            out += data
        return bytes(out)


def _texts(run: _TextRun, chunk: bytes) -> bytes | None:
    """The client's bytes for a read of whole text events of the run's shape, each a
    non-empty JSON string between the prefix and the suffix; None for any other read
    (nothing read: it goes the usual way). A JSON string holds no raw line end, so a
    read that is one such string between one prefix and one suffix is one event."""
    prefix, suffix, inner, head, tail = run
    start, end = len(prefix), len(chunk) - len(suffix)
    if (
        end - start > 2
        and chunk[start] == 0x22  # '"': no whitespace around the string either
        and chunk[end - 1] == 0x22
        and chunk.startswith(prefix)
        and chunk.endswith(suffix)
    ):
        try:
            text = orjson.loads(chunk[start:end])
        except orjson.JSONDecodeError:
            text = None  # not one string: perhaps several events
        if type(text) is str and text:
            return head + orjson.dumps(text) + tail
    events = chunk.split(b"\n\n")
    if len(events) < 3 or events.pop():
        return None
    out: list[bytes] = []
    cut = len(inner)
    for event in events:
        end = len(event) - cut
        if (
            end - start < 3
            or event[start] != 0x22
            or event[end - 1] != 0x22
            or not event.startswith(prefix)
            or not event.endswith(inner)
        ):
            return None
        try:
            text = orjson.loads(event[start:end])
        except orjson.JSONDecodeError:
            return None
        if type(text) is not str or not text:
            return None
        out += (head, orjson.dumps(text), tail)
    return b"".join(out)


async def translated_chunks(
    chunks: AsyncIterable[bytes], translator: StreamTranslator
) -> AsyncIterator[bytes]:
    """Client bytes for each upstream chunk, skipping chunks that produced nothing yet."""
    async for chunk in chunks:
        out = translator.feed(chunk)
        if out:
            yield out
    tail = translator.finish()
    if tail:
        yield tail
