"""A fast fake upstream for the benchmark: OpenAI Chat Completions and Anthropic Messages.

``python -m bench.fake_upstream --port P [--chunks 50] [--gap-ms 0]``

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

Stream pacing (``--gap-ms``): below 0 the whole stream goes out in one write;
0 (the default) writes each event on its own and yields to the loop between
events, so a relay that keeps up sees them arrive one by one; above 0 it
sleeps that long between events, like a model producing tokens.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

import orjson

__all__ = ["Rendered", "main", "render"]

_ID = "chatcmpl-bench0000000000000000000000"
_MODEL = "bench-model"
_CREATED = 1_760_000_000
_TOKENS_IN = 42


class Rendered:
    """Every answer the fake gives, as wire bytes."""

    __slots__ = ("openai_json", "openai_events", "openai_usage", "anthropic_json", "anthropic_events")

    def __init__(self, chunks: int) -> None:
        words = [f"word{i} " for i in range(chunks)]
        text = "".join(words)
        self.openai_json = _response(200, "application/json", _openai_message(text, chunks))
        self.openai_events = _openai_events(words)
        self.openai_usage = _sse(None, _openai_chunk_usage(chunks))
        self.anthropic_json = _response(200, "application/json", _anthropic_message(text, chunks))
        self.anthropic_events = _anthropic_events(words)


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
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
_NO_CHUNKED = (
    b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)


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
    events = [_sse(None, _openai_chunk({"role": "assistant", "content": "", "refusal": None}, None))]
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
        _sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        _sse("ping", {"type": "ping"}),
    ]
    events += [
        _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}})
        for w in words
    ]
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": len(words)}},
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


# -- the server ------------------------------------------------------------------


class _Conn(asyncio.Protocol):
    """One keep-alive connection; requests are answered in order."""

    def __init__(self, answers: Rendered, gap: float, tasks: set[asyncio.Task[None]]) -> None:
        self._answers = answers
        self._gap = gap
        self._tasks = tasks
        self._transport: asyncio.Transport | None = None
        self._buf = b""
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buf = self._buf + data if self._buf else data
        if not self._busy:
            self._drain()

    def _drain(self) -> None:
        buf = self._buf
        while not self._busy and self._transport is not None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].lower()
            if b"transfer-encoding: chunked" in head:
                self._transport.write(_NO_CHUNKED)
                self._transport.close()
                buf = b""
                break
            total = end + 4 + _content_length(head)
            if len(buf) < total:
                break
            self._answer(head, buf[end + 4 : total])
            buf = buf[total:]
        self._buf = buf

    def _answer(self, head: bytes, body: bytes) -> None:
        t = self._transport
        assert t is not None
        line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
        method, _, rest = line.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        a = self._answers
        stream = b'"stream":true' in body or b'"stream": true' in body
        if method == b"post" and path.endswith(b"/chat/completions"):
            if not stream:
                t.write(a.openai_json)
                return
            tail = [a.openai_usage] if b"include_usage" in body else []
            self._stream(a.openai_events + tail + [_sse(None, b"[DONE]")])
        elif method == b"post" and path.endswith(b"/messages"):
            if not stream:
                t.write(a.anthropic_json)
                return
            self._stream(a.anthropic_events)
        elif path == b"/healthz":
            t.write(_HEALTH)
        else:
            t.write(_NOT_FOUND)

    def _stream(self, events: list[bytes]) -> None:
        t = self._transport
        assert t is not None
        if self._gap < 0:
            t.write(b"".join([_SSE_HEAD, *events, _LAST_CHUNK]))
            return
        self._busy = True
        task = asyncio.get_running_loop().create_task(self._paced(events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _paced(self, events: list[bytes]) -> None:
        t = self._transport
        if t is None:
            return
        t.write(_SSE_HEAD + events[0])
        for ev in events[1:]:
            await asyncio.sleep(self._gap)
            if t.is_closing():
                return
            t.write(ev)
        t.write(_LAST_CHUNK)
        self._busy = False
        if self._buf:
            self._drain()


def _content_length(head: bytes) -> int:
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    start = at + 17
    end = head.find(b"\r\n", start)
    return int(head[start : end if end >= 0 else len(head)])


async def serve(host: str, port: int, chunks: int, gap_ms: float) -> None:
    answers = render(chunks)
    gap = gap_ms / 1000 if gap_ms > 0 else (0.0 if gap_ms == 0 else -1.0)
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Conn(answers, gap, tasks), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fake_upstream", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--chunks", type=int, default=50, help="content events per stream")
    p.add_argument("--gap-ms", type=float, default=0.0, help="<0 burst, 0 yield, >0 sleep")
    args = p.parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    try:
        runner(serve(args.host, args.port, args.chunks, args.gap_ms))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
