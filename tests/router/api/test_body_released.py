"""Once an answer streams, the router holds no copy of the request: not its bytes, not the
parsed body, not the IR or the translation. A stream lasts minutes and a body can be
megabytes; 1,000 streams of Claude Code's 88 KB turn held 300 KB each.

The upstream here is a small aiohttp app that reads the body without keeping it and
answers with a slow stream, so that anything still holding the request while the stream
runs is the router's. The request's text is sent with a JSON escape (``\\u002d``) so the
parsed text exists only where the router decoded it, never in this test.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from tests.conftest import build_config

_MARK_SENT = b"BODYMARK\\u002dZ"  # as the client writes it
_TEXT = 20_000


def _anthropic_events() -> list[bytes]:
    start = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
        b'"type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,'
        b'"usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
    )
    delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"x"}}\n\n'
    )
    end = (
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"output_tokens":5}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    return [start, *[delta] * 5, end]


def _chat_events() -> list[bytes]:
    def chunk(delta: bytes, finish: bytes = b"null") -> bytes:
        return (
            b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
            b'"choices":[{"index":0,"delta":' + delta + b',"finish_reason":' + finish + b"}]}\n\n"
        )

    first = chunk(b'{"role":"assistant","content":""}')
    return [first, *[chunk(b'{"content":"x"}')] * 5, chunk(b"{}", b'"stop"'), b"data: [DONE]\n\n"]


class SlowUpstream:
    """Anthropic and Chat streams, one event each ``gap`` seconds until ``go`` is set."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _stream(self, request: web.Request, events: list[bytes]) -> web.StreamResponse:
        while await request.content.readany():  # read and dropped: nothing kept here
            pass
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(events[0])
        await self.go.wait()
        for event in events[1:]:
            await resp.write(event)
        await resp.write_eof()
        return resp

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, _anthropic_events())

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, _chat_events())

    async def __aenter__(self) -> SlowUpstream:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/chat/completions", self.chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.go.set()
        assert self._runner is not None
        await self._runner.cleanup()


def _holders(mark: str, sent: bytes) -> list[str]:
    """What in this process still holds the request: a str with the decoded mark (only the
    router decoded it), or bytes other than the test's own that carry the mark as sent."""
    gc.collect()
    found = []
    for obj in gc.get_objects():
        for ref in gc.get_referents(obj):
            kind = type(ref)
            if kind is str and ref.startswith(mark) and ref is not mark:
                found.append(f"{type(obj).__name__} holds the parsed text")
            elif kind is bytes and ref is not sent and len(ref) > _TEXT and _MARK_SENT in ref:
                found.append(f"{type(obj).__name__} holds the body's bytes")
    return found


@pytest.fixture
async def slow() -> AsyncIterator[SlowUpstream]:
    async with SlowUpstream() as up:
        yield up


@pytest.mark.parametrize("model", ["claude-pass", "claude-via-chat", "claude-renamed"])
async def test_nothing_of_the_request_outlives_the_first_byte(
    start_router, slow: SlowUpstream, model: str
) -> None:
    config = build_config(
        {
            "anth": {"kind": "anthropic", "base_url": slow.url, "api_keys": ["k"]},
            "chat": {"kind": "openai-compatible", "base_url": f"{slow.url}/v1", "api_keys": ["k"]},
        },
        [
            {"pattern": "^claude-pass$", "providers": ["anth"]},
            {"pattern": "^claude-renamed$", "providers": ["anth"], "model": "claude-up"},
            {"pattern": "^claude-via-chat$", "providers": ["chat"]},
        ],
    )
    r = await start_router(config)
    mark = "BODYMARK" + chr(45) + "Z"
    sent = (
        b'{"model":"' + model.encode() + b'","max_tokens":8,"stream":true,"messages":'
        b'[{"role":"user","content":"' + _MARK_SENT + b"y" * _TEXT + b'"}]}'
    )
    async with httpx.AsyncClient(base_url=r.url, timeout=20) as http:
        async with http.stream("POST", "/v1/messages", content=sent) as resp:
            assert resp.status_code == 200
            chunks = resp.aiter_bytes()
            first = await anext(chunks)
            assert b"message_start" in first
            held = _holders(mark, sent)  # the stream is open: the upstream waits on ``go``
            slow.go.set()
            rest = b"".join([c async for c in chunks])
    assert held == []
    assert b"message_stop" in first + rest
