"""Upstreams that break HTTP or their wire format, driven through a real router.

Each case runs while a thread probes ``/healthz`` (it must answer within
100 ms: a broken upstream must never stall the event loop), and checks that
the request ends within a bound with an error in the client's own format or
the next provider's answer, that no stream is left counted as in flight, and,
for the big ones, that the router's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import psutil
import pytest
from google.genai import errors as genai_errors

from router.observability import OBSERVER
from suite.config import BreakerConfig
from tests.conftest import HealthWatch, RunningRouter, StartRouter, build_config
from tests.fakes import MisbehavingUpstream, Misbehaviour
from tests.fakes.sdk import sdk_driver

MODEL = "m-test"
TEXT = "Hello from the misbehaving fake"
TIMEOUTS = {"connect": 2, "first_byte": 2, "idle": 2}
MiB = 1024 * 1024

# client API -> provider kind, what its base URL ends with, extra provider keys
KINDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "chat": ("openai-compatible", "/v1", {}),
    "responses": ("openai-compatible", "/v1", {"wire": "responses"}),
    "anthropic": ("anthropic", "", {}),
    "gemini": ("gemini", "", {}),
}
SDK_ERRORS = (openai.APIError, anthropic.APIError, genai_errors.APIError)


def provider(api: str, fake: MisbehavingUpstream, behaviour: Misbehaviour) -> dict[str, Any]:
    kind, suffix, extra = KINDS[api]
    return {
        "kind": kind,
        "base_url": fake.url(behaviour, suffix),
        "api_keys": ["sk-upstream-0123456789"],
        "timeouts": TIMEOUTS,
        **extra,
    }


def config(api: str, fake: MisbehavingUpstream, *behaviours: Misbehaviour, **limits: int) -> Any:
    """One rule for MODEL over one provider per behaviour, tried in order."""
    providers = {f"p{i}-{b.value}": provider(api, fake, b) for i, b in enumerate(behaviours)}
    server: dict[str, Any] = {"timeouts": TIMEOUTS}
    if limits:
        server["limits"] = limits
    return build_config(
        providers, [{"pattern": f"^{MODEL}$", "providers": list(providers)}], server=server
    )


def base(router: RunningRouter, api: str) -> str:
    return router.url + KINDS[api][1]


def in_flight(router: RunningRouter) -> int:
    metrics = router.app[OBSERVER].metrics
    assert metrics is not None
    return metrics.streams_open


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


async def until(check: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return bool(check())


async def ask(
    router: RunningRouter, api: str, *, stream: bool, repeat: int = 1
) -> tuple[str, float, HealthWatch]:
    """The SDK's answer text, how long it took, and the ``/healthz`` watch that ran
    meanwhile (SDK errors propagate).

    The SDK runs in this process, so its first-time costs would show as router stalls:
    its client setup (a CA bundle, sessions) and, on the first answer of each kind,
    building its response types take this process's GIL for 100 ms or more. So the
    watch starts once this client has made a request (the router's own model list)
    and once this kind of answer has been parsed before (see ``_warm``)."""
    await _warm(api, stream)
    driver = sdk_driver(api, base(router, api), "client-key", model=MODEL)
    try:
        if api == "gemini":
            await driver.client.aio.models.list()
        else:
            await driver.client.models.list()
        with HealthWatch(router.url) as watch:
            started = time.monotonic()
            for _ in range(repeat):
                text, _ = await asyncio.wait_for(driver.ask(stream=stream), 30)
            seconds = time.monotonic() - started
    finally:
        await driver.aclose()
    return text, seconds, watch


_WARMED: set[tuple[str, bool]] = set()


async def _warm(api: str, stream: bool) -> None:
    """Have the SDK parse one answer of this kind (straight from a well-behaved fake)."""
    if (api, stream) in _WARMED:
        return
    async with MisbehavingUpstream() as fake:
        driver = sdk_driver(api, fake.url(Misbehaviour.OK, KINDS[api][1]), "k", model=MODEL)
        try:
            await driver.ask(stream=stream)
        finally:
            await driver.aclose()
    _WARMED.add((api, stream))


async def raw_stream(router: RunningRouter, api: str) -> tuple[int, bytes, float]:
    """A streamed request read to its end by a plain HTTP client: status, body, seconds."""
    path, body = _request(api, stream=True)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.post(router.url + path, data=orjson.dumps(body)) as resp:
            data = await resp.read()
            return resp.status, data, time.monotonic() - started


def _request(api: str, *, stream: bool) -> tuple[str, dict[str, Any]]:
    msgs = [{"role": "user", "content": "hi"}]
    if api == "chat":
        return "/v1/chat/completions", {"model": MODEL, "messages": msgs, "stream": stream}
    if api == "anthropic":
        body = {"model": MODEL, "max_tokens": 64, "messages": msgs, "stream": stream}
        return "/v1/messages", body
    if api == "responses":
        return "/v1/responses", {"model": MODEL, "input": "hi", "stream": stream}
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{MODEL}:{action}", {"contents": [{"parts": [{"text": "hi"}]}]}


# The error event each client format ends a started stream with.
ERROR_EVENT = {
    "chat": b'data: {"error":',
    "responses": b"event: response.failed\n",
    "anthropic": b"event: error\n",
    "gemini": b'data: {"error":',
}


# -- a broken or stalled answer after the first chunk ------------------------------


@pytest.mark.parametrize("api", ["chat", "anthropic", "gemini", "responses"])
@pytest.mark.parametrize("behaviour", [Misbehaviour.BAD_CHUNK, Misbehaviour.STALL])
async def test_stream_broken_after_first_chunk_ends_with_an_error_event(
    start_router: StartRouter, api: str, behaviour: Misbehaviour
) -> None:
    """A valid first chunk, then a chunk size that is not hex (aiohttp's reader is never
    woken: only a deadline per read ends it) or silence: the client's stream ends within
    the idle timeout with its format's error event, and the stream is no longer counted."""
    async with MisbehavingUpstream() as fake:
        router = await start_router(config(api, fake, behaviour))
        with HealthWatch(router.url) as watch:
            status, body, seconds = await raw_stream(router, api)
        assert status == 200
        assert TEXT.encode() in body
        assert ERROR_EVENT[api] in body, body[-400:]
        assert seconds < TIMEOUTS["idle"] + 3
        assert await until(lambda: in_flight(router) == 0)
        assert await until(lambda: fake.open_connections == 0)
        watch.assert_fast()


@pytest.mark.parametrize("api", ["chat", "anthropic", "gemini"])
async def test_stream_broken_after_first_chunk_through_the_sdk(
    start_router: StartRouter, api: str
) -> None:
    """The official SDKs see the error (not a hang, not a silent short answer)."""
    async with MisbehavingUpstream() as fake:
        router = await start_router(config(api, fake, Misbehaviour.BAD_CHUNK))
        started = time.monotonic()
        with pytest.raises(SDK_ERRORS):
            await ask(router, api, stream=True)
        assert time.monotonic() - started < TIMEOUTS["idle"] + 3
        assert await until(lambda: in_flight(router) == 0)


@pytest.mark.parametrize("api", ["chat", "anthropic", "gemini"])
@pytest.mark.parametrize("behaviour", [Misbehaviour.BAD_CHUNK, Misbehaviour.STALL])
async def test_non_stream_broken_mid_body_fails_over(
    start_router: StartRouter, api: str, behaviour: Misbehaviour
) -> None:
    """Half a JSON body, then a broken chunk or silence: nothing reached the client yet,
    so the next provider answers."""
    async with MisbehavingUpstream() as fake:
        router = await start_router(config(api, fake, behaviour, Misbehaviour.OK))
        text, seconds, watch = await ask(router, api, stream=False)
        assert text == TEXT
        assert seconds < TIMEOUTS["idle"] + 3
        assert fake.served[behaviour] == 1 and fake.served[Misbehaviour.OK] == 1
        watch.assert_fast()


async def test_non_stream_broken_mid_body_alone_is_a_clear_error(
    start_router: StartRouter,
) -> None:
    async with MisbehavingUpstream() as fake:
        router = await start_router(config("anthropic", fake, Misbehaviour.BAD_CHUNK))
        started = time.monotonic()
        with pytest.raises(anthropic.APIStatusError) as err:
            await ask(router, "anthropic", stream=False)
        assert time.monotonic() - started < TIMEOUTS["idle"] + 3
        assert err.value.status_code in (502, 504)
        assert err.value.body["error"]["type"] in ("api_error", "timeout_error")  # type: ignore[index]


# -- answers too big to hold ------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_huge_non_stream_body_is_refused_not_buffered(
    start_router: StartRouter, chunked: bool
) -> None:
    """300 MB of valid JSON: the attempt fails at the cap (before reading when the size is
    announced), the next provider answers, and memory grows by far less than the body."""
    # Unannounced, a body is read up to the cap before it is refused, so what is held
    # is the cap: 16 MiB here (the 64 MiB default holds that much, briefly).
    limits = {"max_response_bytes": 16 * MiB} if chunked else {}
    async with MisbehavingUpstream(max_bytes=300 * MiB, chunked_bodies=chunked) as fake:
        router = await start_router(
            config("chat", fake, Misbehaviour.HUGE_BODY, Misbehaviour.OK, **limits)
        )
        before = rss()
        text, seconds, watch = await ask(router, "chat", stream=False)
        grown = rss() - before
        assert text == TEXT
        assert seconds < 10
        assert grown < 80 * MiB, f"RSS grew by {grown / MiB:.0f} MB"
        assert fake.bytes_sent < 100 * MiB  # the router stopped reading at its cap
        watch.assert_fast(min_probes=1)  # refused at once: the attack is short


async def test_huge_body_over_a_configured_cap_is_a_clear_error(
    start_router: StartRouter,
) -> None:
    async with MisbehavingUpstream(max_bytes=4 * MiB, chunked_bodies=True) as fake:
        router = await start_router(
            config("chat", fake, Misbehaviour.HUGE_BODY, max_response_bytes=1 * MiB)
        )
        with pytest.raises(openai.APIStatusError) as err:
            await ask(router, "chat", stream=False)
        assert err.value.status_code == 502
        assert "larger than" in err.value.message and "max_response_bytes" in err.value.message


@pytest.mark.parametrize("api", ["chat", "anthropic"])
async def test_endless_sse_line_fails_over_before_the_first_byte(
    start_router: StartRouter, api: str
) -> None:
    """``data: xxx…`` that never ends its line (300 MB): the router holds at most one
    line (max_sse_line_bytes), gives up on it, and the next provider answers. ``chat`` is
    a passthrough, ``anthropic`` goes through the translator (the SSE parser)."""
    async with MisbehavingUpstream(max_bytes=300 * MiB) as fake:
        router = await start_router(
            config("chat", fake, Misbehaviour.ENDLESS_LINE, Misbehaviour.OK)
            if api == "chat"
            else _mixed(fake)
        )
        before = rss()
        text, seconds, watch = await ask(router, api, stream=True)
        grown = rss() - before
        assert text == TEXT
        assert seconds < 10
        assert grown < 60 * MiB, f"RSS grew by {grown / MiB:.0f} MB"
        assert fake.bytes_sent < 100 * MiB
        assert await until(lambda: in_flight(router) == 0)
        watch.assert_fast(min_probes=1)


def _mixed(fake: MisbehavingUpstream) -> Any:
    """Anthropic clients served by OpenAI-compatible upstreams (translated both ways)."""
    providers = {
        "endless": provider("chat", fake, Misbehaviour.ENDLESS_LINE),
        "ok": provider("chat", fake, Misbehaviour.OK),
    }
    return build_config(
        providers,
        [{"pattern": f"^{MODEL}$", "providers": ["endless", "ok"]}],
        server={"timeouts": TIMEOUTS},
    )


async def test_long_valid_stream_is_not_capped(start_router: StartRouter) -> None:
    """The caps bound one line and one non-stream body, not a stream's length."""
    async with MisbehavingUpstream(max_bytes=12 * MiB) as fake:
        router = await start_router(
            config("chat", fake, Misbehaviour.HUGE_BODY, max_sse_line_bytes=1 * MiB)
        )
        status, body, _ = await raw_stream(router, "chat")
        assert status == 200 and len(body) > 12 * MiB
        assert body.endswith(b"data: [DONE]\n\n")


# -- a page instead of the API ---------------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "anthropic", "gemini"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_html_200_fails_over(start_router: StartRouter, api: str, stream: bool) -> None:
    """A 200 ``text/html`` page (captive portal, Cloudflare) is a failed attempt: the
    next provider answers. Once the page has come back ``breaker.failures`` times in a
    row, the circuit opens and the later requests go straight to the next provider."""
    async with MisbehavingUpstream() as fake:
        router = await start_router(config(api, fake, Misbehaviour.HTML, Misbehaviour.OK))
        text, _, watch = await ask(router, api, stream=stream, repeat=10)
        assert text == TEXT
        assert fake.served[Misbehaviour.HTML] == BreakerConfig().failures
        watch.assert_fast(min_probes=1)


@pytest.mark.parametrize("api", ["chat", "anthropic", "gemini"])
async def test_html_200_alone_is_a_502_in_the_clients_format(
    start_router: StartRouter, api: str
) -> None:
    async with MisbehavingUpstream() as fake:
        router = await start_router(config(api, fake, Misbehaviour.HTML))
        path, body = _request(api, stream=False)
        async with aiohttp.ClientSession() as http:
            async with http.post(router.url + path, data=orjson.dumps(body)) as resp:
                assert resp.status == 502
                assert resp.content_type == "application/json"
                err = await resp.json()
        assert b"<html" not in orjson.dumps(err)
        message = err["error"]["message"]
        assert "text/html" in message
        if api == "anthropic":
            assert err["type"] == "error"
        with pytest.raises(SDK_ERRORS):
            await ask(router, api, stream=False)
