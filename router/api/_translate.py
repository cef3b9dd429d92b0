"""Serving a client from an upstream that speaks another format.

The request goes client format → IR → upstream format; the answer comes
back the other way, non-stream as one body, streams event by event through
the upstream's decoder and the client's encoder. Nothing is buffered beyond
what a single event needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import orjson

from router.errors import BadRequest, ErrorKind, UpstreamConnectError
from router.formats import Format, SSEParser, anthropic, gemini, ir, openai_chat, responses

__all__ = [
    "MODULES",
    "StreamTranslator",
    "request_ir",
    "translate_body",
    "translate_response",
    "translated_chunks",
]

MODULES: dict[Format, ModuleType] = {
    Format.OPENAI: openai_chat,
    Format.RESPONSES: responses,
    Format.ANTHROPIC: anthropic,
    Format.GEMINI: gemini,
}


def request_ir(fmt: Format, body: dict[str, Any]) -> ir.Request:
    """The client's request in the canonical form; a 400 naming the field if it cannot be read."""
    try:
        req: ir.Request = MODULES[fmt].request_to_ir(body)
    except ir.TranslationError as exc:
        raise BadRequest(f"{exc.field}: {exc.message}", param=exc.field) from None
    return req


def translate_body(req: ir.Request, target: Format, model: str, stream: bool) -> bytes:
    try:
        body = MODULES[target].request_from_ir(req, model, stream)
    except ir.TranslationError as exc:
        raise BadRequest(f"{exc.field}: {exc.message}", param=exc.field) from None
    return orjson.dumps(body)


def translate_response(
    data: bytes, source: Format, client: Format, model: str, req: ir.Request
) -> tuple[bytes, ir.Usage]:
    """An upstream's complete answer, re-rendered for the client."""
    try:
        parsed = orjson.loads(data)
        resp: ir.Response = MODULES[source].response_to_ir(parsed)
    except (orjson.JSONDecodeError, ir.TranslationError, TypeError, ValueError) as exc:
        raise UpstreamConnectError(
            f"upstream sent an answer that could not be read: {exc}"
        ) from None
    if client is Format.RESPONSES:
        out = responses.response_from_ir(resp, model, tools=req.tools)
    else:
        out = MODULES[client].response_from_ir(resp, model)
    return orjson.dumps(out), resp.usage


class StreamTranslator:
    """Upstream SSE bytes in, client stream bytes out, one piece at a time."""

    def __init__(
        self,
        source: Format,
        client: Format,
        model: str,
        request_id: str,
        *,
        sse: bool,
        tools: tuple[ir.Tool, ...] = (),
    ) -> None:
        self._parser = SSEParser()
        self._decoder = MODULES[source].StreamDecoder()
        if client is Format.RESPONSES:
            self._encoder = responses.StreamEncoder(model, request_id, tools=tools)
        else:
            self._encoder = MODULES[client].StreamEncoder(model, request_id)
        self._array = client is Format.GEMINI and not sse
        self._array_open = False
        self.usage = ir.Usage()
        self.failure: ir.StreamError | None = None

    def feed(self, chunk: bytes) -> bytes:
        out = bytearray()
        for event, data in self._parser.feed(chunk):
            for ev in self._decoder.feed(event, data):
                out += self._encode(ev)
        return bytes(out)

    def finish(self) -> bytes:
        """The upstream ended: flush, and end in error if it never finished properly."""
        out = bytearray()
        for event, data in self._parser.finish():
            for ev in self._decoder.feed(event, data):
                out += self._encode(ev)
        for ev in self._decoder.finish():
            out += self._encode(ev)
        if self._array and self._array_open:
            out += b"]"
        return bytes(out)

    def error(self, kind: ErrorKind, message: str) -> bytes:
        """The client format's error frame for a failure the decoder did not see."""
        return self._encode(ir.StreamError(message, kind)) + (
            b"]" if self._array and self._array_open else b""
        )

    def _encode(self, ev: ir.Event) -> bytes:
        if isinstance(ev, ir.UsageEvent):
            self.usage = ev.usage
        if isinstance(ev, ir.StreamError):
            self.failure = ev
            frame: bytes = self._encoder.error(ev.message, ev.kind)
        else:
            frame = self._encoder.encode(ev)
        if not self._array or not frame:
            return frame
        return self._to_array(frame)

    def _to_array(self, frames: bytes) -> bytes:
        """Gemini without ``alt=sse`` streams one JSON array: ``[{..}\\n,\\r\\n{..}]``."""
        out = bytearray()
        for _, data in SSEParser().feed(frames):
            out += b"\r\n," if self._array_open else b"["
            self._array_open = True
            out += data
        return bytes(out)


async def translated_chunks(
    chunks: AsyncIterator[bytes], translator: StreamTranslator
) -> AsyncIterator[bytes]:
    """Client bytes for each upstream chunk, skipping chunks that produced nothing yet."""
    async for chunk in chunks:
        out = translator.feed(chunk)
        if out:
            yield out
    tail = translator.finish()
    if tail:
        yield tail
