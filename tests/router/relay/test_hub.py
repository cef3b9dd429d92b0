"""The ``/v1/ws`` hub with scripted relay clients (no browser): dispatch, failover, timers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from router.api import STATE
from suite.config import parse_config
from tests.conftest import RunningRouter, StartRouter

from ._client import RelayTestClient, answer_with_text

MODEL = "gemini-2.5-pro-aistudio"
TOKEN = "svc-token-0123456789"


def relay_config(
    *, services: dict[str, Any] | None = None, providers: list[str] | None = None, **extra: Any
) -> Any:
    prov: dict[str, Any] = {
        "kind": "aistudio",
        "timeouts": {"connect": 2, "first_byte": 5, "idle": 5},
    }
    data: dict[str, Any] = {
        "server": {"api_keys": [], "timeouts": {"connect": 2, "first_byte": 5, "idle": 5}},
        "services": {"token": TOKEN, **(services or {})},
        "management": {"key": "mgmt-key-0123456789"},
        "providers": {"aistudio": prov, **extra.get("more", {})},
        "models": {"routing": [{"pattern": "-aistudio$", "providers": providers or ["aistudio"]}]},
    }
    return parse_config(data, environ={})


def ws_url(router: RunningRouter) -> str:
    return f"ws://127.0.0.1:{router.server.port}/v1/ws"


def hub(router: RunningRouter) -> Any:
    return router.app[STATE].relay


async def wait_for(check: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return bool(check())


def chat(router: RunningRouter) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=router.url + "/v1", api_key="x", max_retries=0)


async def stream_text(client: openai.AsyncOpenAI, model: str = MODEL) -> str:
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    out = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            out.append(chunk.choices[0].delta.content)
    return "".join(out)


async def test_cliproxyapi_client_without_hello_serves_a_stream(start_router: StartRouter) -> None:
    """Only CLIProxyAPI's frames (no hello, token in the query as browsers send it)."""
    router = await start_router(relay_config())
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN, query_token=True)
    client.on_request = answer_with_text("Hello", " from", " the relay")
    sdk = chat(router)
    try:
        assert await stream_text(sdk) == "Hello from the relay"
        req = client.received[0]
        assert req["type"] == "http_request" and req["id"]
        p = req["payload"]
        assert p["method"] == "POST"
        assert p["url"] == (
            "https://generativelanguage.googleapis.com/v1beta/models/"
            "gemini-2.5-pro:streamGenerateContent?alt=sse"
        )
        assert p["headers"]["Content-Type"] == ["application/json"]
        assert '"contents"' in p["body"] and p["sent_at"].endswith("Z")
        done = await sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
        assert done.choices[0].message.content == "Hello from the relay"
        assert ":generateContent" in client.received[-1]["payload"]["url"]
    finally:
        await sdk.close()
        await client.close()


async def test_google_genai_sdk_through_the_relay(start_router: StartRouter) -> None:
    router = await start_router(relay_config())
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN)
    client.on_request = answer_with_text("Gem", "ini")
    g = genai.Client(
        api_key="x",
        http_options=genai_types.HttpOptions(base_url=router.url, api_version="v1beta"),
    )
    try:
        text = ""
        async for chunk in await g.aio.models.generate_content_stream(model=MODEL, contents="hi"):
            text += chunk.text or ""
        assert text == "Gemini"
    finally:
        await g.aio.aclose()
        await client.close()


async def test_token_is_required(start_router: StartRouter) -> None:
    router = await start_router(relay_config())
    async with aiohttp.ClientSession() as s:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(ws_url(router), headers=headers)
            assert err.value.status == 401
    ok = await RelayTestClient.connect(ws_url(router), token=TOKEN)
    assert await wait_for(lambda: len(hub(router).peers) == 1)
    await ok.close()


async def test_no_service_is_a_503_with_a_reason(start_router: StartRouter) -> None:
    router = await start_router(relay_config())
    sdk = chat(router)
    try:
        with pytest.raises(openai.APIStatusError) as err:
            await stream_text(sdk)
        assert err.value.status_code == 503
        assert "no aistudio service is connected" in str(err.value)
    finally:
        await sdk.close()


async def test_two_services_split_the_work(start_router: StartRouter) -> None:
    router = await start_router(relay_config())
    hello = {"service": "aistudio", "instance": "x", "version": "1", "capacity": 2, "profiles": []}
    a = await RelayTestClient.connect(ws_url(router), token=TOKEN, hello={**hello, "instance": "a"})
    b = await RelayTestClient.connect(ws_url(router), token=TOKEN, hello={**hello, "instance": "b"})
    for c in (a, b):
        c.on_request = answer_with_text("ok", delay=0.2)
    assert await wait_for(lambda: sum(p.capacity for p in hub(router).peers.values()) == 4)
    sdk = chat(router)
    try:
        results = await asyncio.gather(*(stream_text(sdk) for _ in range(4)))
        assert results == ["ok"] * 4
        assert a.requests.qsize() == 2 and b.requests.qsize() == 2
    finally:
        await sdk.close()
        await a.close()
        await b.close()


async def test_service_gone_before_stream_start_is_redispatched(start_router: StartRouter) -> None:
    router = await start_router(relay_config())
    dying = await RelayTestClient.connect(ws_url(router), token=TOKEN)

    async def vanish(client: RelayTestClient, frame: dict[str, Any]) -> None:
        await client.ws.close()  # took the request, then the connection dropped

    dying.on_request = vanish
    assert await wait_for(lambda: len(hub(router).peers) == 1)
    sdk = chat(router)
    healthy: RelayTestClient | None = None
    try:
        # The healthy one connects second, so the first dispatch goes to the dying one.
        healthy = await RelayTestClient.connect(ws_url(router), token=TOKEN)
        healthy.on_request = answer_with_text("served by the other")
        hub(router).peers[next(iter(hub(router).peers))].served = -1  # prefer the dying one
        assert await stream_text(sdk) == "served by the other"
        assert dying.requests.qsize() == 1 and healthy.requests.qsize() == 1
    finally:
        await sdk.close()
        await dying.close()
        if healthy is not None:
            await healthy.close()


async def test_rate_limited_service_rests_and_the_credential_cools(
    start_router: StartRouter,
) -> None:
    router = await start_router(relay_config())
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN)

    async def quota(c: RelayTestClient, frame: dict[str, Any]) -> None:
        await c.send(
            frame["id"],
            "error",
            {"error": "You exceeded your quota", "status": 429, "retry_after": 7},
        )

    client.on_request = quota
    assert await wait_for(lambda: len(hub(router).peers) == 1)
    sdk = chat(router)
    try:
        with pytest.raises(openai.RateLimitError) as err:
            await stream_text(sdk)
        assert err.value.response.headers.get("retry-after") in ("7", "8")
        cred = router.app[STATE].relay.credential("aistudio")
        assert cred.cooling_until > time.monotonic()
        # Cooling: the next request is refused at once, without reaching the service.
        with pytest.raises(openai.RateLimitError):
            await stream_text(sdk)
        assert client.requests.qsize() == 1
    finally:
        await sdk.close()
        await client.close()


async def test_error_frame_becomes_the_clients_error(start_router: StartRouter) -> None:
    router = await start_router(relay_config())
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN)

    async def bad(c: RelayTestClient, frame: dict[str, Any]) -> None:
        await c.send(frame["id"], "error", {"error": "contents is required", "status": 400})

    client.on_request = bad
    assert await wait_for(lambda: len(hub(router).peers) == 1)
    sdk = chat(router)
    try:
        with pytest.raises(openai.BadRequestError) as err:
            await stream_text(sdk)
        assert "contents is required" in str(err.value)
    finally:
        await sdk.close()
        await client.close()


async def test_client_disconnect_sends_cancel(start_router: StartRouter) -> None:
    router = await start_router(relay_config())
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN)
    client.on_request = answer_with_text(*[f"t{i} " for i in range(200)], delay=0.05)
    assert await wait_for(lambda: len(hub(router).peers) == 1)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with aiohttp.ClientSession() as s:
        resp = await s.post(router.url + "/v1/chat/completions", json=body)
        await resp.content.readany()  # first chunk arrived: the stream is live
        resp.close()  # the client goes away mid-stream
    rid = await asyncio.wait_for(client.cancels.get(), timeout=5)
    assert rid == client.received[0]["id"]
    await client.close()


async def test_silent_service_is_dropped_and_its_requests_fail(start_router: StartRouter) -> None:
    router = await start_router(relay_config(services={"ping_seconds": 0.1, "silent_seconds": 0.5}))
    # autoping off and no reader: it neither answers pings nor sends anything.
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN, autoping=False, read=False)
    assert await wait_for(lambda: len(hub(router).peers) == 1)
    began = time.monotonic()
    assert await wait_for(lambda: len(hub(router).peers) == 0, timeout=5)
    assert 0.4 <= time.monotonic() - began <= 3
    await client.close()


async def test_pinged_service_that_answers_stays(start_router: StartRouter) -> None:
    router = await start_router(relay_config(services={"ping_seconds": 0.1, "silent_seconds": 0.5}))
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN)  # autoping answers
    await asyncio.sleep(1.2)
    assert len(hub(router).peers) == 1
    await client.send("p1", "ping", {})
    assert await wait_for(
        lambda: any(f["type"] == "pong" and f["id"] == "p1" for f in client.received)
    )
    await client.close()


async def test_login_endpoint_needs_the_management_key_and_relays_auth(
    start_router: StartRouter,
) -> None:
    router = await start_router(relay_config())
    hello = {"service": "aistudio", "instance": "a", "version": "1", "capacity": 0, "profiles": []}
    client = await RelayTestClient.connect(ws_url(router), token=TOKEN, hello=hello)
    assert await wait_for(lambda: any(p.hello for p in hub(router).peers.values()))

    async def answer_auth() -> None:
        for _ in range(100):
            for f in client.received:
                if f["type"] == "auth_request":
                    prof = f["payload"]["profile"]
                    await client.send(
                        f["id"], "auth_result", {"profile": prof, "ok": True, "error": ""}
                    )
                    return
            await asyncio.sleep(0.05)

    async with aiohttp.ClientSession() as s:
        url = router.url + "/v1/auth/aistudio/login"
        r = await s.post(url, json={"profile": "work"})
        assert r.status == 401
        answering = asyncio.ensure_future(answer_auth())
        r = await s.post(
            url, json={"profile": "work"}, headers={"Authorization": "Bearer mgmt-key-0123456789"}
        )
        await answering
        assert r.status == 200
        assert await r.json() == {"profile": "work", "ok": True, "error": ""}
        r = await s.get(
            router.url + "/v1/auth/aistudio/services",
            headers={"X-Management-Key": "mgmt-key-0123456789"},
        )
        services = (await r.json())["services"]
        assert services[0]["name"] == "aistudio/a"
    await client.close()
