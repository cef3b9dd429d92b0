"""An upstream that breaks HTTP and its own wire format on purpose.

Real upstreams and what sits in front of them (captive portals, Cloudflare,
half-dead load balancers) fail in ways aiohttp's server cannot reproduce:
it always frames its answers correctly. This fake is a raw asyncio socket
server on 127.0.0.1 that writes the bytes itself, so it can hang after
accepting, stall mid-answer, send a chunk size that is not hex, or stream
300 MB without ever holding more than one 64 KB piece.

    async with MisbehavingUpstream(max_bytes=300 << 20) as fake:
        url = fake.url(Misbehaviour.HTML)       # every request to it: an HTML page
        fake.url() + "/v1"                      # or pick per request by model name:
        # {"model": "bad-chunk"}, {"model": "stall-gpt-4o"}, .../models/hang:generateContent

The behaviour is the first path segment when it names one (``/html/v1/...``),
else the model name when it starts with one (``hang``, ``hang-anything``),
else :attr:`MisbehavingUpstream.default`. It speaks enough of OpenAI Chat
(``/chat/completions``), OpenAI Responses (``/responses``), Anthropic
(``/v1/messages``) and Gemini (``/v1beta/models/M:generateContent |
streamGenerateContent``) to open a valid answer in each, so a failure lands
after a first byte that each router translator accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from ._base import Recorded
from ._misbehave_wire import (
    Wire,
    error_body,
    first_events,
    json_parts,
    last_events,
    stream_event,
)

__all__ = ["Misbehaviour", "MisbehavingUpstream", "Wire"]

_PIECE = 64 * 1024
_HEAD_LIMIT = 64 * 1024
_BODY_LIMIT = 64 * 1024 * 1024
HTML_PAGE = (
    b"<!DOCTYPE html><html lang=en><head><title>Just a moment...</title></head>"
    b"<body><h1>Checking your browser before accessing the API.</h1>"
    b"<p>Ray ID: 8f0e3c2b1a4d5e6f &bull; Performance &amp; security by Cloudflare</p>"
    b"</body></html>"
)


class Misbehaviour(StrEnum):
    """What the fake does with a request."""

    OK = "ok"  #: a short valid answer (stream or not)
    HANG = "hang"  #: read the request, never answer
    STALL = "stall"  #: headers and a valid first chunk, then silence
    BAD_CHUNK = "bad-chunk"  #: a valid chunk, then a chunk size that is not hex, then close
    ENDLESS_LINE = "endless-line"  #: SSE headers, then ``data: xxx…`` that never ends a line
    HUGE_BODY = "huge-body"  #: a valid answer of ``max_bytes`` (one huge text), made lazily
    HTML = "html"  #: 200 ``text/html``: an interstitial page instead of the API
    ECHO_KEY = "echo-key"  #: 401 whose error message quotes the key it was sent
    ERROR_STORM = "error-storm"  #: 5xx on every request (500, 502, 503 in turn)


# Longest first, so "endless-line-x" is not read as some shorter name.
_BY_LENGTH = sorted(Misbehaviour, key=lambda b: -len(b.value))
_VALUES = frozenset(b.value for b in Misbehaviour)
_STORM = (500, 502, 503)


@dataclass(frozen=True, slots=True)
class _Request:
    head: Recorded
    wire: Wire
    model: str
    stream: bool
    sse: bool
    behaviour: Misbehaviour


class MisbehavingUpstream:
    """A raw socket server whose answers are broken as asked (see the module doc)."""

    def __init__(
        self,
        *,
        default: Misbehaviour = Misbehaviour.OK,
        max_bytes: int = 64 * 1024 * 1024,
        text: str = "Hello from the misbehaving fake",
        chunked_bodies: bool = False,
    ) -> None:
        self.default = default
        #: Size bound of ENDLESS_LINE and HUGE_BODY (what is streamed before the end).
        self.max_bytes = max_bytes
        #: HUGE_BODY without a Content-Length (chunked), so its size shows only as it comes.
        self.chunked_bodies = chunked_bodies
        self.text = text
        self.host = "127.0.0.1"
        self.port = 0
        self.requests: list[Recorded] = []
        #: How many requests each behaviour served.
        self.served: Counter[Misbehaviour] = Counter()
        #: Bytes written for bodies, over all requests (shows how far a router read).
        self.bytes_sent = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, behaviour: Misbehaviour | None = None, suffix: str = "") -> str:
        """A base URL whose every request gets ``behaviour`` (None: chosen by model)."""
        prefix = f"/{behaviour.value}" if behaviour is not None else ""
        return f"{self.base_url}{prefix}{suffix}"

    @property
    def open_connections(self) -> int:
        """Connections the client has not closed yet (a router that gave up closes them)."""
        return sum(1 for w in self._writers if not w.is_closing())

    async def start(self) -> Self:
        self._closing.clear()
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=_HEAD_LIMIT, backlog=256
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening and drop every connection (wakes hanging handlers)."""
        self._closing.set()
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- one connection ----------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            req = await self._read_request(reader)
            if req is None:
                return
            self.served[req.behaviour] += 1
            await self._answer(req, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the router went away or sent something unreadable: nothing to answer
        except ValueError:
            pass  # a head longer than the limit
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request | None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.add(name.strip(), value.strip())
        length = int(headers.get("Content-Length", "0"))
        if length > _BODY_LIMIT:
            return None
        body = await reader.readexactly(length) if length else b""
        path, _, query_text = target.partition("?")
        query = dict(p.partition("=")[::2] for p in query_text.split("&") if p)
        parsed: Any = None
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(body) if body else None
        rec = Recorded(method, path, query, CIMultiDictProxy(headers), body, parsed)
        self.requests.append(rec)
        return self._classify(rec)

    def _classify(self, rec: Recorded) -> _Request:
        path = rec.path
        forced: Misbehaviour | None = None
        first, _, rest = path.lstrip("/").partition("/")
        if first in _VALUES:
            forced, path = Misbehaviour(first), "/" + rest
        body = rec.json if isinstance(rec.json, dict) else {}
        stream = body.get("stream") is True
        sse = True
        model = str(body.get("model") or "")
        if path.endswith("/chat/completions"):
            wire = Wire.OPENAI
        elif path.endswith("/responses"):
            wire = Wire.RESPONSES
        elif "/messages" in path:
            wire = Wire.ANTHROPIC
        else:
            wire = Wire.GEMINI
            name, _, action = unquote(path.rsplit("/", 1)[-1]).partition(":")
            model = name
            stream = action == "streamGenerateContent"
            sse = rec.query.get("alt") == "sse"
        behaviour = forced or self._by_model(model)
        return _Request(rec, wire, model, stream, sse, behaviour)

    def _by_model(self, model: str) -> Misbehaviour:
        for b in _BY_LENGTH:
            if model == b.value or model.startswith(b.value + "-"):
                return b
        return self.default

    # -- the behaviours ------------------------------------------------------------

    async def _answer(
        self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        b = req.behaviour
        if b is Misbehaviour.HANG:
            await self._wait_gone(reader)
        elif b is Misbehaviour.HTML:
            await self._whole(writer, 200, "text/html; charset=UTF-8", HTML_PAGE)
        elif b is Misbehaviour.ECHO_KEY:
            key = _sent_key(req.head)
            message = f"Incorrect API key provided: {key}. You can find your API key in your account settings."
            await self._whole(writer, 401, "application/json", error_body(req.wire, 401, message))
        elif b is Misbehaviour.ERROR_STORM:
            status = _STORM[(self.served[b] - 1) % len(_STORM)]
            message = "The server had an error while processing your request."
            await self._whole(
                writer, status, "application/json", error_body(req.wire, status, message)
            )
        elif b is Misbehaviour.HUGE_BODY and not req.stream:
            await self._huge_json(req, writer)
        elif b is Misbehaviour.ENDLESS_LINE:
            await self._chunked_head(writer, "text/event-stream")
            await self._chunk(writer, b"data: ")
            await self._repeat(writer, self.max_bytes, chunked=True)
            await self._send(writer, b"0\r\n\r\n")
        elif req.stream:
            await self._stream(req, reader, writer)
        elif b is Misbehaviour.OK:
            await self._whole(writer, 200, "application/json", self._json(req))
        else:  # STALL, BAD_CHUNK on a non-stream request: cut the JSON in half
            body = self._json(req)
            await self._chunked_head(writer, "application/json")
            await self._chunk(writer, body[: len(body) // 2])
            await self._break(req, reader, writer)

    async def _stream(
        self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        kind = "text/event-stream" if req.sse else "application/json; charset=UTF-8"
        await self._chunked_head(writer, kind)
        await self._chunk(writer, first_events(req.wire, req.model, self.text, sse=req.sse))
        b = req.behaviour
        if b is Misbehaviour.HUGE_BODY:
            # A valid answer that just goes on: many ordinary deltas, max_bytes in all.
            piece = stream_event(req.wire, req.model, "x" * 1000)
            if not req.sse:
                piece = b",\r\n" + first_events(req.wire, req.model, "x" * 1000, sse=False)[1:]
            batch = piece * max(1, _PIECE // len(piece))
            sent = 0
            while sent < self.max_bytes:
                await self._chunk(writer, batch)
                sent += len(batch)
        if b in (Misbehaviour.OK, Misbehaviour.HUGE_BODY):
            await self._chunk(writer, last_events(req.wire, req.model, self.text, sse=req.sse))
            await self._send(writer, b"0\r\n\r\n")
            return
        await self._break(req, reader, writer)

    async def _break(
        self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """After a valid first chunk: STALL waits in silence, BAD_CHUNK breaks the framing."""
        if req.behaviour is Misbehaviour.BAD_CHUNK:
            # Apart from the valid chunk, so the client is already waiting for more when
            # the bad size arrives (the case where aiohttp's reader is never woken).
            await asyncio.sleep(0.1)
            await self._send(writer, b"zz\r\nnot a chunk\r\n")
            await asyncio.sleep(0.05)  # let it arrive before the FIN
            writer.close()
            return
        await self._wait_gone(reader)

    def _json(self, req: _Request) -> bytes:
        head, tail = json_parts(req.wire, req.model)
        return head + self.text.encode() + tail

    async def _huge_json(self, req: _Request, writer: asyncio.StreamWriter) -> None:
        head, tail = json_parts(req.wire, req.model)
        if self.chunked_bodies:
            await self._chunked_head(writer, "application/json")
            await self._chunk(writer, head)
            await self._repeat(writer, self.max_bytes, chunked=True)
            await self._chunk(writer, tail)
            await self._send(writer, b"0\r\n\r\n")
            return
        size = len(head) + self.max_bytes + len(tail)
        await self._send(
            writer,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size + head,
        )
        await self._repeat(writer, self.max_bytes, chunked=False)
        await self._send(writer, tail)

    # -- bytes on the socket -------------------------------------------------------

    async def _wait_gone(self, reader: asyncio.StreamReader) -> None:
        """Say nothing until the client closes (or the fake does)."""
        while not self._closing.is_set():
            if not await reader.read(_PIECE):
                return

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    async def _whole(
        self, writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes
    ) -> None:
        reason = {200: "OK", 401: "Unauthorized", 500: "Internal Server Error"}.get(status, "Error")
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nServer: cloudflare\r\nConnection: close\r\n\r\n"
        )
        await self._send(writer, head.encode() + body)

    async def _chunked_head(self, writer: asyncio.StreamWriter, content_type: str) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
        )
        await self._send(writer, head.encode())

    async def _chunk(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        self.bytes_sent += len(data)
        writer.writelines((b"%x\r\n" % len(data), data, b"\r\n"))
        await writer.drain()

    async def _repeat(self, writer: asyncio.StreamWriter, size: int, *, chunked: bool) -> None:
        """``size`` bytes of ``x``, one reused 64 KB piece at a time (never held whole)."""
        piece = b"x" * _PIECE
        left = size
        while left > 0 and not self._closing.is_set():
            part = piece if left >= _PIECE else piece[:left]
            if chunked:
                await self._chunk(writer, part)
            else:
                self.bytes_sent += len(part)
                await self._send(writer, part)
            left -= len(part)


def _sent_key(rec: Recorded) -> str:
    """The credential the request carried, wherever this provider puts it."""
    for name in ("x-api-key", "x-goog-api-key"):
        if rec.headers.get(name):
            return rec.headers[name]
    auth = rec.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:]
    return rec.query.get("key", "")
