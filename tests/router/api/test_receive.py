"""A body that is already in when its handler starts is taken without a clock
(router/api/_receive.py): the same limits and answers as a body still arriving."""

from __future__ import annotations

import asyncio

import orjson

from tests.conftest import build_config
from tests.fakes import FakeAnthropic

KEY = "sk-client"


def _config(base_url: str, limit: int) -> object:
    return build_config(
        {"a": {"kind": "anthropic", "base_url": base_url, "api_keys": ["k"]}},
        [{"pattern": ".", "providers": ["a"]}],
        api_keys=[KEY],
        server={"max_body_bytes": limit},
    )


async def _post_chunked(port: int, body: bytes, pieces: int) -> tuple[int, bytes]:
    """POST /v1/messages with a chunked body (no Content-Length), head and body in one
    write: the router's parser has the whole body before the handler runs."""
    step = -(-len(body) // pieces)
    chunks = b"".join(
        f"{len(p):x}\r\n".encode() + p + b"\r\n"
        for p in (body[i : i + step] for i in range(0, len(body), step))
    )
    head = (
        "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"x-api-key: {KEY}\r\nanthropic-version: 2023-06-01\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + chunks + b"0\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def _body(text: str) -> bytes:
    return orjson.dumps(
        {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": text}]}
    )


async def test_a_whole_chunked_body_over_the_limit_is_413(start_router) -> None:
    """No Content-Length to refuse it by: the size of what came is checked."""
    async with FakeAnthropic() as up:
        r = await start_router(_config(up.base_url, 2048))
        status, body = await _post_chunked(r.server.port, _body("x" * 5000), 3)
        assert status == 413
        assert b"request_too_large" in body
        assert up.requests == []


async def test_a_whole_chunked_body_under_the_limit_is_served(start_router) -> None:
    async with FakeAnthropic() as up:
        r = await start_router(_config(up.base_url, 1 << 20))
        sent = _body("y" * 3000)
        status, _ = await _post_chunked(r.server.port, sent, 4)
        assert status == 200
        assert len(up.requests) == 1
        assert orjson.loads(up.requests[0].body)["messages"] == orjson.loads(sent)["messages"]
