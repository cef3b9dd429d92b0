"""Relay services that announce absurd numbers or push more than a client reads.

A service's ``hello``/``status`` numbers go into logs, the status page and the
dispatch arithmetic: one that cannot be held (``capacity: 1e300``) must be
refused as a frame, not break the connection's logger. And a service pushing
an answer faster than its client reads must not pile it up in memory: past
``MAX_QUEUED_BYTES`` the request fails and the service is told to cancel.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import openai
import orjson
import psutil

from router.relay import MAX_QUEUED_BYTES
from tests.conftest import HealthWatch, StartRouter

from ._client import RelayTestClient, answer_with_text
from .test_hub import MODEL, TOKEN, hub, relay_config, stream_text, wait_for, ws_url

MGMT = {"X-Management-Key": "mgmt-key-0123456789"}
MiB = 1024 * 1024


async def test_absurd_numbers_are_refused_and_the_service_stays(
    start_router: StartRouter,
) -> None:
    """``capacity: 1e300`` (and a 300-digit integer) in hello and status: the frames are
    refused, the service stays connected and serves, and every page about it answers."""
    router = await start_router(relay_config())
    hello = {"service": "aistudio", "instance": "a", "version": "1", "capacity": 1e300}
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN, hello=hello)
    client.on_request = answer_with_text("still", " here")
    sdk = None
    try:
        assert await wait_for(lambda: len(hub(router).peers) == 1)
        huge = "9" * 300
        with HealthWatch(router.url) as watch:
            for raw in (
                '{"id":"","type":"hello","payload":{"service":"x","capacity":' + huge + "}}",
                '{"id":"","type":"status","payload":{"capacity_free":-3}}',
                '{"id":"","type":"status","payload":{"capacity_free":1e300,"capacity":1e300}}',
            ):
                await client.ws.send_str(raw)
            await _synced(client)
            async with aiohttp.ClientSession() as http:
                for path in ("/status.json", "/v1/auth/aistudio/services"):
                    async with http.get(router.url + path, headers=MGMT) as resp:
                        assert resp.status == 200, path
                        body = await resp.json()
                        assert "e+300" not in orjson.dumps(body).decode()
            (peer,) = hub(router).peers.values()
            assert 0 <= peer.capacity <= 10_000
            long_name = {"service": "s" * 5000, "capacity": 2}
            await client.send("", "hello", long_name)
            await _synced(client)
            assert len(peer.name) < 600
        watch.assert_fast(min_probes=1)
        sdk = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key="x", max_retries=0)
        assert await stream_text(sdk) == "still here"
        assert len(hub(router).peers) == 1  # the connection survived all of it
    finally:
        if sdk is not None:
            await sdk.close()
        await client.close()


async def test_a_client_slower_than_its_service_fails_instead_of_growing_memory(
    start_router: StartRouter,
) -> None:
    """The service pushes 150 MB of valid events; the client stops reading after the
    first bytes. At most MAX_QUEUED_BYTES wait for it; then its stream ends with an
    error event, the service gets ``cancel``, and memory stays bounded."""
    router = await start_router(relay_config())
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN)
    pushed = {"bytes": 0}
    done = asyncio.Event()
    piece = _sse_event("x" * MiB)

    async def flood(c: RelayTestClient, frame: dict[str, Any]) -> None:
        rid = frame["id"]
        headers = {"Content-Type": ["text/event-stream"]}
        await c.send(rid, "stream_start", {"status": 200, "headers": headers})
        # One frame text, sent again and again: the flood runs in this process, and
        # encoding 1 MB per frame would be the test's own load, not the router's.
        frame = {"id": rid, "type": "stream_chunk", "payload": {"data": piece}}
        text = orjson.dumps(frame).decode()
        try:
            while pushed["bytes"] < 150 * MiB and c.cancels.empty():
                await c.ws.send_str(text)
                pushed["bytes"] += len(piece)
            await c.send(rid, "stream_end", {})
        finally:
            done.set()

    client.on_request = flood
    proc = psutil.Process()
    before = proc.memory_info().rss
    peak = before
    url = f"{router.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    body = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    try:
        # A small read buffer: the client's own memory stays out of the measure.
        async with aiohttp.ClientSession(read_bufsize=64 * 1024) as http:
            with HealthWatch(router.url) as watch:
                async with http.post(url, data=body) as resp:
                    assert resp.status == 200
                    assert (await resp.content.readany()).startswith(b"data: ")
                    started = time.monotonic()
                    # The client now reads nothing until the service stops or is stopped.
                    while not done.is_set() and time.monotonic() - started < 60:
                        peak = max(peak, proc.memory_info().rss)
                        await asyncio.sleep(0.02)
                    assert client.cancels.qsize() == 1, "the service was never told to stop"
                    tail = b""
                    async for chunk in resp.content.iter_any():
                        tail = (tail + chunk)[-4096:]
            watch.assert_fast()
        assert b'data: {"error":' in tail and b"too slowly" in tail
        grown = peak - before
        assert grown < MAX_QUEUED_BYTES + 40 * MiB, f"RSS grew by {grown / MiB:.0f} MB"
        assert pushed["bytes"] < 150 * MiB  # it stopped when told to
        assert await wait_for(lambda: all(not p.open for p in hub(router).peers.values()))
    finally:
        await client.close()


async def _synced(client: RelayTestClient) -> None:
    """Every frame sent before has been handled (the hub answers frames in order)."""
    seen = sum(f["type"] == "pong" for f in client.received)
    await client.send("", "ping", {})
    assert await wait_for(lambda: sum(f["type"] == "pong" for f in client.received) > seen)


def _sse_event(text: str) -> str:
    cand = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    return "data: " + orjson.dumps({"candidates": [cand]}).decode() + "\r\n\r\n"
