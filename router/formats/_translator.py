"""An upstream's answer re-rendered for a client of another format.

Non-stream answers go upstream format -> IR -> client format in one call;
streams go event by event through the upstream's decoder and the client's
encoder, nothing buffered beyond what a single event needs. Errors are left
to the caller: an answer that cannot be read raises ``ir.TranslationError``,
a stream that fails ends in the client format's error event and is kept in
:attr:`StreamTranslator.failure`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

import orjson

from router.errors import ErrorKind

from . import ir
from ._codec import Context
from ._codecs import CODECS
from ._sse import SSEParser

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


class StreamTranslator:
    """Upstream stream bytes in, client stream bytes out, one piece at a time.

    ``sse`` is false for a Gemini client that asked for a JSON array instead of
    SSE (no ``alt=sse``): its events are then written as the array's elements.
    """

    __slots__ = ("_parser", "_decoder", "_encoder", "_array", "_array_open", "usage", "failure")

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
        self.usage = ir.Usage()
        self.failure: ir.StreamError | None = None

    def feed(self, chunk: bytes) -> bytes:
        """The client's bytes for one upstream chunk (empty until an event completes)."""
        frames: list[bytes] = []
        decode, encode = self._decoder.feed, self._encode
        for event, data in self._parser.feed(chunk):
            for ev in decode(event, data):
                frame = encode(ev)
                if frame:
                    frames.append(frame)
        return frames[0] if len(frames) == 1 else b"".join(frames)

    def finish(self) -> bytes:
        """The upstream ended: flush, and end in error if it never finished properly."""
        frames: list[bytes] = []
        for event, data in self._parser.finish():
            frames += map(self._encode, self._decoder.feed(event, data))
        frames += map(self._encode, self._decoder.finish())
        if self._array and self._array_open:
            frames.append(b"]")
        return b"".join(frames)

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The client format's error frame for a failure the decoder did not see."""
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
