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
from ._stream_base import DecoderBase, TextCut, json_text

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


#: A run of text events relayed without the decoder's and the encoder's event layers:
#: the upstream event's bytes around its JSON string (prefix, suffix with the blank
#: line; empty when the learnt shape has no such line), and the client's frame around
#: the same string (head, tail).
_TextRun = tuple[bytes, bytes, bytes, bytes]
#: An encoder's ``text_frame`` or ``args_frame``: a delta's frame around its string.
_FrameOf = Callable[[int], tuple[bytes, bytes] | None]


class StreamTranslator:
    """Upstream stream bytes in, client stream bytes out, one piece at a time.

    ``sse`` is false for a Gemini client that asked for a JSON array instead of
    SSE (no ``alt=sse``): its events are then written as the array's elements.

    Nearly every event of a long answer is a piece of text (or of a tool call's
    arguments) in the shape the one before had. Once the decoder has learnt that
    shape (``TextCut``) and both sides say such an event changes nothing
    (``DecoderBase.text_cut``, the encoder's ``text_frame`` or ``args_frame``), each
    such event goes from the upstream's data to the client's frame with one parse
    and one dump of its JSON string, no IR event and no decoder or encoder; a read
    that is one such event, or opens with several, skips the SSE parser too. The
    same bytes the layers would give; after any other event the shortcut is looked
    up again.
    """

    __slots__ = (
        "_parser",
        "_decoder",
        "_encoder",
        "_array",
        "_array_open",
        "_frame_of",
        "_args_of",
        "_cut",
        "_run",
        "_raw",
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
        args_of = getattr(self._encoder, "args_frame", None)
        decoder = self._decoder
        self._frame_of: _FrameOf | None = frame_of
        self._args_of: _FrameOf | None = args_of
        self._cut: TextCut | None = None  # the decoder's, when a shortcut can happen
        if frame_of is not None and isinstance(decoder, DecoderBase) and not self._array:
            self._cut = decoder.cut
        self._run: _TextRun | None = None
        self._raw: _TextRun | None = None  # the run, while raw bytes may be read by it
        self.usage = ir.Usage()
        self.failure: ir.StreamError | None = None

    def feed(self, chunk: bytes) -> bytes:
        """The client's bytes for one upstream chunk (empty until an event completes)."""
        raw = self._raw
        if raw is not None:
            out = _one_text(raw, chunk)  # one event: nearly every read
            if out is not None:
                return out
        frames: list[bytes] = []
        if raw is not None:
            at = _lead_texts(raw, chunk, frames)  # an upstream ahead: several events
            if at == len(chunk):
                return b"".join(frames)
            if at:
                chunk = chunk[at:]
        decode, encode = self._decoder.feed, self._encode
        cut = self._cut  # None: no shortcut for this pair (then there is never a run)
        run = self._run
        for event, data in self._parser.feed(chunk):
            if run is not None and cut is not None:
                text = cut.text(event, data)  # what the decoder would read first
                if text is not None:
                    frames += (run[2], orjson.dumps(text), run[3])
                    continue
            for ev in decode(event, data):
                frame = encode(ev)
                if frame:
                    frames.append(frame)
            if cut is not None and (run is not None or cut.index >= 0):
                run = self._run = self._text_run()  # the run may end, begin or change
        self._raw = run if run is not None and run[1] and self._parser.idle() else None
        return frames[0] if len(frames) == 1 else b"".join(frames)

    def _text_run(self) -> _TextRun | None:
        """The shortcut for the next events (see the class), or None."""
        decoder = self._decoder
        cut = decoder.text_cut() if isinstance(decoder, DecoderBase) else None
        if cut is None:
            return None
        frame_of = self._args_of if cut.tool else self._frame_of
        if frame_of is None:
            return None
        frame = frame_of(cut.index)
        if frame is None:
            return None
        prefix, suffix = cut.line() or (b"", b"")
        return prefix, suffix, frame[0], frame[1]

    def finish(self) -> bytes:
        """The upstream ended: flush, and end in error if it never finished properly."""
        self._run = self._raw = None
        frames: list[bytes] = []
        for event, data in self._parser.finish():
            frames += map(self._encode, self._decoder.feed(event, data))
        frames += map(self._encode, self._decoder.finish())
        if self._array and self._array_open:
            frames.append(b"]")
        return b"".join(frames)

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The client format's error frame for a failure the decoder did not see."""
        self._run = self._raw = None
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


def _one_text(run: _TextRun, chunk: bytes) -> bytes | None:
    """The client's frame for a read (the parser holding nothing) of one event that
    is a text event of the run's shape (see :func:`_lead_texts`); None for any other."""
    prefix, suffix, head, tail = run
    start, end = len(prefix), len(chunk) - len(suffix)
    if (
        end - start < 3
        or chunk[start] != 0x22
        or chunk[end - 1] != 0x22
        or not chunk.endswith(suffix)
        or not chunk.startswith(prefix)
        or chunk.find(b"\n", start, end) >= 0
    ):
        return None
    text = json_text(chunk[start:end])
    if text is None:
        return None
    return head + orjson.dumps(text) + tail


def _lead_texts(run: _TextRun, chunk: bytes, frames: list[bytes]) -> int:
    """The client's frames (to ``frames``) for the text events of the run's shape that
    open ``chunk`` (the parser holding nothing), each a non-empty JSON string between
    the prefix and the suffix; where the first other event, or an unfinished one,
    begins. A JSON string holds no raw line end, nor does the data around it, so the
    first line end after a prefix starts the blank line that ends its event."""
    prefix, suffix, head, tail = run
    skip, keep = len(prefix), len(suffix)
    at = 0
    while chunk.startswith(prefix, at):
        start = at + skip
        stop = chunk.find(b"\n", start) + 2  # the string and the suffix's data: no line end
        end = stop - keep
        if (
            end - start < 3
            or chunk[start] != 0x22  # '"': no whitespace around the string either
            or chunk[end - 1] != 0x22
            or not chunk.endswith(suffix, at, stop)
        ):
            break
        text = json_text(chunk[start:end])
        if text is None:
            break
        frames += (head, orjson.dumps(text), tail)
        at = stop
    return at


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
