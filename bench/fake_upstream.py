"""A fast fake upstream for the benchmark: OpenAI Chat Completions and Anthropic Messages.

``python -m bench.fake_upstream --port P [--chunks 50] [--pace-ms 1] [--slow-ms 100 --slow-seconds 20]``

Built to never be the bottleneck: a bare ``asyncio.Protocol`` on uvloop with
a tiny HTTP/1.1 parser (keep-alive, Content-Length bodies) and every answer
rendered to bytes once at start. It does not parse JSON: ``"stream": true``
and ``include_usage`` are found by a byte search of the body.

* ``POST /v1/chat/completions``: a ``chat.completion`` object, or with
  ``"stream": true`` an SSE stream in OpenAI's chunk format: a role chunk,
  ``--chunks`` content chunks, a ``finish_reason`` chunk, a usage chunk when
  the request asks ``stream_options.include_usage``, then ``data: [DONE]``.
* ``POST /v1/messages``: an Anthropic ``message`` object, or the Anthropic
  event stream (``message_start`` … ``--chunks`` ``content_block_delta`` …
  ``message_stop``), for the translated path.
* ``GET /healthz``: 200.

Stream pacing. A stream is written one event per write, never as one blob.
By default every active stream gets its next event on each turn of the
event loop (as fast as the fake can go; a relay that falls behind then reads
several events at once, as it would from a fast real upstream). A request
whose model name contains ``-paced`` gets one event every ``--pace-ms``
instead, like a model producing tokens, so each event reaches the relay on
its own and the relay pays its per-event cost. A model name containing
``-slow`` gets a long stream, one event every ``--slow-ms`` for
``--slow-seconds`` (200 events, 20 s by default: the Anthropic stream is
exactly that many events, the OpenAI one two or three fewer), like a long answer
that holds its connection open: what many concurrent streams cost the relay
in memory. Each pacer is one callback for all its streams, not a task per
stream. Model names are found by a byte search of the body for ``-paced"``
and ``-slow"``; large request bodies are gathered in a ``bytearray``, so a
500 KB body costs the fake one copy, not one per read.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import orjson

__all__ = ["Rendered", "main", "render"]

_ID = "chatcmpl-bench0000000000000000000000"
_MODEL = "bench-model"
_CREATED = 1_760_000_000
_TOKENS_IN = 42


class Rendered:
    """Every answer the fake gives, as wire bytes; a stream is its list of writes."""

    __slots__ = (
        "openai_json",
        "openai_stream",
        "openai_stream_usage",
        "anthropic_json",
        "anthropic_stream",
    )

    def __init__(self, chunks: int) -> None:
        words = [f"word{i} " for i in range(max(1, chunks))]
        text = "".join(words)
        done = _sse(None, b"[DONE]")
        self.openai_json = _response(200, "application/json", _openai_message(text, chunks))
        self.openai_stream = _writes([*_openai_events(words), done])
        self.openai_stream_usage = _writes(
            [*_openai_events(words), _sse(None, _openai_chunk_usage(chunks)), done]
        )
        self.anthropic_json = _response(200, "application/json", _anthropic_message(text, chunks))
        self.anthropic_stream = _writes(_anthropic_events(words))


def _writes(events: list[bytes]) -> list[bytes]:
    """The status line and headers go with the first event, the last HTTP chunk with the last."""
    return [_SSE_HEAD + events[0], *events[1:-1], events[-1] + _LAST_CHUNK]


def render(chunks: int) -> Rendered:
    return Rendered(chunks)


# -- wire rendering ------------------------------------------------------------

_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
_LAST_CHUNK = b"0\r\n\r\n"
_HEALTH = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
)
_NO_CHUNKED = b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _response(status: int, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _frame(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


def _sse(event: str | None, data: object) -> bytes:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    head = f"event: {event}\n".encode() if event else b""
    return _frame(head + b"data: " + raw + b"\n\n")


def _usage(out: int) -> dict[str, object]:
    return {
        "prompt_tokens": _TOKENS_IN,
        "completion_tokens": out,
        "total_tokens": _TOKENS_IN + out,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _openai_message(text: str, out: int) -> bytes:
    return orjson.dumps(
        {
            "id": _ID,
            "object": "chat.completion",
            "created": _CREATED,
            "model": _MODEL,
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(out),
        }
    )


def _openai_chunk(delta: dict[str, object], finish: str | None) -> dict[str, object]:
    return {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": _MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _openai_chunk_usage(out: int) -> dict[str, object]:
    chunk = _openai_chunk({}, None)
    chunk["choices"] = []
    chunk["usage"] = _usage(out)
    return chunk


def _openai_events(words: Sequence[str]) -> list[bytes]:
    events = [
        _sse(None, _openai_chunk({"role": "assistant", "content": "", "refusal": None}, None))
    ]
    events += [_sse(None, _openai_chunk({"content": w}, None)) for w in words]
    events.append(_sse(None, _openai_chunk({}, "stop")))
    return events


def _anthropic_message(text: str, out: int) -> bytes:
    return orjson.dumps(
        {
            "id": "msg_bench00000000000000000000",
            "type": "message",
            "role": "assistant",
            "model": "bench-claude",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": _TOKENS_IN, "output_tokens": out},
        }
    )


def _anthropic_events(words: Sequence[str]) -> list[bytes]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bench00000000000000000000",
            "type": "message",
            "role": "assistant",
            "model": "bench-claude",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": _TOKENS_IN, "output_tokens": 1},
        },
    }
    events = [
        _sse("message_start", start),
        _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _sse("ping", {"type": "ping"}),
    ]
    events += [
        _sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
        )
        for w in words
    ]
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(words)},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


# -- the server ------------------------------------------------------------------


class _Pacer:
    """Advances every active stream by one event per tick (one callback for all)."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._active: list[list[object]] = []  # [conn, events, next index]
        self._scheduled = False

    def add(self, conn: _Conn, events: list[bytes]) -> None:
        self._active.append([conn, events, 0])
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        self._scheduled = True
        loop = asyncio.get_running_loop()
        if self._interval > 0:
            loop.call_later(self._interval, self._tick)
        else:
            loop.call_soon(self._tick)

    def _tick(self) -> None:
        self._scheduled = False
        keep: list[list[object]] = []
        done: list[_Conn] = []
        for entry in self._active:
            conn = cast(_Conn, entry[0])
            events = cast(list[bytes], entry[1])
            i = cast(int, entry[2])
            t = conn.transport
            if t is None or t.is_closing():
                continue
            t.write(events[i])
            if i + 1 < len(events):
                entry[2] = i + 1
                keep.append(entry)
            else:
                done.append(conn)
        self._active = keep
        for conn in done:
            conn.stream_done()
        if self._active and not self._scheduled:
            self._schedule()


@dataclass(frozen=True, slots=True)
class _Modes:
    """What each kind of request gets: the answers and the pacer of its streams."""

    answers: Rendered
    slow_answers: Rendered
    fast: _Pacer
    paced: _Pacer
    slow: _Pacer


class _Conn(asyncio.Protocol):
    """One keep-alive connection; requests are answered in order."""

    def __init__(self, modes: _Modes) -> None:
        self._modes = modes
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but quack like one.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._busy:
            self._drain()

    def stream_done(self) -> None:
        self._busy = False
        if self._buf:
            self._drain()

    def _drain(self) -> None:
        buf = self._buf
        pos = 0
        while not self._busy and self.transport is not None:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            head = bytes(buf[pos:end]).lower()
            if b"transfer-encoding: chunked" in head:
                self.transport.write(_NO_CHUNKED)
                self.transport.close()
                pos = len(buf)
                break
            total = end + 4 + _content_length(head)
            if len(buf) < total:
                break
            self._answer(head, bytes(buf[end + 4 : total]))
            pos = total
        if pos:
            del buf[:pos]

    def _answer(self, head: bytes, body: bytes) -> None:
        t = self.transport
        assert t is not None
        line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        method, _, rest = line.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        slow = b'-slow"' in body
        a = self._modes.slow_answers if slow else self._modes.answers
        stream = b'"stream":true' in body or b'"stream": true' in body
        if method == b"post" and path.endswith(b"/chat/completions"):
            if not stream:
                t.write(a.openai_json)
                return
            self._stream(
                body, a.openai_stream_usage if b"include_usage" in body else a.openai_stream, slow
            )
        elif method == b"post" and path.endswith(b"/messages"):
            if not stream:
                t.write(a.anthropic_json)
                return
            self._stream(body, a.anthropic_stream, slow)
        elif path == b"/healthz":
            t.write(_HEALTH)
        else:
            t.write(_NOT_FOUND)

    def _stream(self, body: bytes, events: list[bytes], slow: bool) -> None:
        self._busy = True
        m = self._modes
        (m.slow if slow else m.paced if b'-paced"' in body else m.fast).add(self, events)


def _content_length(head: bytes) -> int:
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    start = at + 17
    end = head.find(b"\r\n", start)
    return int(head[start : end if end >= 0 else len(head)])


# The framing events of the Anthropic stream besides its content deltas.
_ANTHROPIC_FRAMING = 6


async def serve(
    host: str, port: int, chunks: int, pace_ms: float, slow_ms: float, slow_seconds: float
) -> None:
    slow_events = max(1, round(slow_seconds * 1000 / max(slow_ms, 1.0)))
    modes = _Modes(
        answers=render(chunks),
        slow_answers=render(slow_events - _ANTHROPIC_FRAMING),
        fast=_Pacer(0.0),
        paced=_Pacer(max(pace_ms, 0.0) / 1000),
        slow=_Pacer(max(slow_ms, 1.0) / 1000),
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Conn(modes), host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fake_upstream", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--chunks", type=int, default=50, help="content events per stream")
    p.add_argument("--pace-ms", type=float, default=1.0, help="event interval of '-paced' models")
    p.add_argument("--slow-ms", type=float, default=100.0, help="event interval of '-slow' models")
    p.add_argument("--slow-seconds", type=float, default=20.0, help="length of a '-slow' stream")
    args = p.parse_args(argv)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    try:
        asyncio.run(
            serve(args.host, args.port, args.chunks, args.pace_ms, args.slow_ms, args.slow_seconds)
        )
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
