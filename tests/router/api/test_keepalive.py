"""Keep-alive while the upstream thinks (``server.keepalive_seconds``, docs/routing.md).

A real router in front of two fakes of the client's own format (a primary and
a second provider). The primary is slow to its first byte (``Delay``); with
keep-alive on, the client gets its 200 and the format's idle signal every
second, counted here on the raw bytes, then the answer, and the official SDK
reads the same stream without error. A primary that fails after the pings is
failed over within the same response; when every provider fails, the open
stream ends with one error event in the client's format. Off (the default),
nothing is sent before the content.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google.genai import errors as genai_errors

from suite.config import ConfigError, parse_config
from tests.conftest import RunningRouter, StartRouter, build_config
from tests.fakes import (
    Delay,
    Fail,
    FakeAnthropic,
    FakeGemini,
    FakeOpenAI,
    Hang,
    Reply,
    ResetAfter,
    read_events,
)
from tests.fakes.sdk import sdk_driver

KEY = "sk-keepalive-client"
MODEL = "thinker"
N = 1.0  # keepalive_seconds in these tests
SLOW = N + 3  # the primary's time to its first byte
APIS = ("chat", "responses", "anthropic", "gemini")
ANSWER = "the considered answer"
SECOND = "the second provider answers"
# What each client format is sent while it waits (docs/routing.md "Keep-alive").
SIGNALS = {
    "chat": b": keep-alive\n\n",
    "responses": b": keep-alive\n\n",
    "anthropic": b'event: ping\ndata: {"type": "ping"}\n\n',
    "gemini": b"\r\n",
}
UPSTREAM_MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
    "chat": "gpt-4o",
    "responses": "gpt-5",
}
# The SDKs' own error types for a stream that ends in its error event.
SDK_ERRORS: dict[str, tuple[type[BaseException], ...]] = {
    "chat": (openai.APIError,),
    "responses": (openai.APIError, RuntimeError),
    "anthropic": (anthropic.APIStatusError,),
    "gemini": (genai_errors.APIError,),
}


@dataclass
class Setup:
    router: RunningRouter
    primary: Any
    second: Any


async def _setup(
    start_router: StartRouter,
    stack: AsyncExitStack,
    api: str,
    server: dict[str, Any],
    second: str | None = None,
) -> Setup:
    """Two providers behind one rule, ``primary`` first: of ``api``'s own format, the
    second of ``second``'s when given (then its answers are translated)."""
    fakes = []
    providers: dict[str, dict[str, Any]] = {}
    for name, kind in (("primary", api), ("second", second or api)):
        if kind == "anthropic":
            fake: Any = FakeAnthropic(api_keys=("sk-ant-up",))
            spec: dict[str, Any] = {"kind": "anthropic", "api_keys": ["sk-ant-up"]}
        elif kind == "gemini":
            fake = FakeGemini(api_keys=("AIza-up",))
            spec = {"kind": "gemini", "api_keys": ["AIza-up"]}
        else:
            fake = FakeOpenAI(api_keys=("sk-oa-up",))
            spec = {"kind": "openai-compatible", "api_keys": ["sk-oa-up"]}
            if kind == "responses":
                spec["wire"] = "responses"
        fakes.append(await stack.enter_async_context(fake))
        providers[name] = {**spec, "base_url": fake.base_url}
    routing = [
        {
            "pattern": f"^{MODEL}$",
            "providers": [
                {"name": "primary", "model": UPSTREAM_MODELS[api]},
                {"name": "second", "model": UPSTREAM_MODELS[second or api]},
            ],
        }
    ]
    srv = {"timeouts": {"connect": 2, "first_byte": 30, "idle": 30}, **server}
    router = await start_router(build_config(providers, routing, api_keys=[KEY], server=srv))
    return Setup(router, fakes[0], fakes[1])


@pytest.fixture
async def stack():
    async with AsyncExitStack() as s:
        yield s


def _request(api: str, *, stream: bool = True, sse: bool = True) -> tuple[str, dict, dict]:
    """(path, headers, body) of a request in ``api``'s format."""
    user = [{"role": "user", "content": "think hard"}]
    if api == "anthropic":
        headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
        return (
            "/v1/messages",
            headers,
            {"model": MODEL, "max_tokens": 64, "stream": stream, "messages": user},
        )
    if api == "gemini":
        body = {"contents": [{"role": "user", "parts": [{"text": "think hard"}]}]}
        verb = (
            ("streamGenerateContent" + ("?alt=sse" if sse else "")) if stream else "generateContent"
        )
        return f"/v1beta/models/{MODEL}:{verb}", {"x-goog-api-key": KEY}, body
    auth = {"Authorization": f"Bearer {KEY}"}
    if api == "responses":
        return "/v1/responses", auth, {"model": MODEL, "stream": stream, "input": "think hard"}
    return "/v1/chat/completions", auth, {"model": MODEL, "stream": stream, "messages": user}


@dataclass
class Raw:
    """What a plain HTTP client saw: when the status came, and every byte with its time."""

    status: int
    content_type: str
    headers_at: float
    pieces: list[tuple[float, bytes]]

    @property
    def body(self) -> bytes:
        return b"".join(p for _, p in self.pieces)


async def _raw(url: str, api: str, **kw: Any) -> Raw:
    path, headers, body = _request(api, **kw)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        async with http.stream("POST", path, json=body, headers=headers) as resp:
            headers_at = time.monotonic() - started
            pieces = [(time.monotonic() - started, p) async for p in resp.aiter_raw()]
    return Raw(resp.status_code, resp.headers.get("content-type", ""), headers_at, pieces)


def _leading_pings(api: str, body: bytes) -> tuple[int, bytes]:
    """How many idle signals open ``body``, and what follows them."""
    signal, count = SIGNALS[api], 0
    while body.startswith(signal):
        body = body[len(signal) :]
        count += 1
    return count, body


def _text_of(api: str, events: list[tuple[str | None, str]]) -> str:
    """The answer text a stream carried."""
    out = []
    for name, data in events:
        if data == "[DONE]":
            continue
        payload = json.loads(data)
        if api == "chat":
            out += [c["delta"].get("content") or "" for c in payload.get("choices", [])]
        elif api == "responses" and name == "response.output_text.delta":
            out.append(payload["delta"])
        elif api == "anthropic" and name == "content_block_delta":
            out.append(payload["delta"].get("text", ""))
        elif api == "gemini":
            for cand in payload.get("candidates", []):
                out += [p.get("text", "") for p in cand["content"].get("parts", [])]
    return "".join(out)


def _is_error(name: str | None, data: str) -> bool:
    if name in ("error", "response.failed"):
        return True
    return data.startswith("{") and json.loads(data).get("error") is not None


def _assert_pinged(api: str, raw: Raw) -> bytes:
    """The status came early, at least two idle signals came before any content, the
    first not before N seconds; the bytes after the signals."""
    assert raw.status == 200, raw.body[:300]
    assert raw.content_type.startswith("text/event-stream"), raw.content_type
    pings, rest = _leading_pings(api, raw.body)
    assert pings >= 2, f"{pings} idle signals before {raw.body[:200]!r}"
    assert raw.pieces[0][0] >= 0.9 * N, "the first signal must wait keepalive_seconds"
    content_at = next(t for t, p in raw.pieces if p.strip(b"\r\n") and p != SIGNALS[api])
    assert raw.headers_at < content_at - 1.0, "the status was committed before the content"
    return rest


async def _sdk_ask(router: RunningRouter, api: str) -> str:
    base = router.url + "/v1" if api in ("chat", "responses") else router.url
    driver = sdk_driver(api, base, KEY, model=MODEL)
    try:
        text, _ = await driver.ask(stream=True, prompt="think hard")
    finally:
        await driver.aclose()
    return text


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("api", APIS)
async def test_a_slow_first_token_gets_pings_then_the_answer(start_router, stack, api):
    setup = await _setup(start_router, stack, api, {"keepalive_seconds": N})
    setup.primary.enqueue(Delay(SLOW, Reply(text=ANSWER)), Delay(SLOW, Reply(text=ANSWER)))
    raw, sdk_text = await asyncio.gather(_raw(setup.router.url, api), _sdk_ask(setup.router, api))
    rest = _assert_pinged(api, raw)
    events = read_events(rest.decode())
    assert _text_of(api, events) == ANSWER
    assert not any(_is_error(*e) for e in events), events
    assert sdk_text == ANSWER, "the SDK read the kept-alive stream as a normal answer"
    assert not setup.second.requests, "nothing failed: the second provider was not asked"


@pytest.mark.parametrize("failure", ["500", "reset"])
@pytest.mark.parametrize("api", APIS)
async def test_a_primary_failing_after_pings_is_failed_over_in_the_same_stream(
    start_router, stack, api, failure
):
    setup = await _setup(start_router, stack, api, {"keepalive_seconds": N})
    fail = Fail(500) if failure == "500" else ResetAfter(chunks=0)
    setup.primary.enqueue(Delay(2.5, fail), Delay(2.5, fail))
    setup.second.enqueue(Reply(text=SECOND), Reply(text=SECOND))
    raw, sdk_text = await asyncio.gather(_raw(setup.router.url, api), _sdk_ask(setup.router, api))
    rest = _assert_pinged(api, raw)
    events = read_events(rest.decode())
    assert _text_of(api, events) == SECOND
    assert not any(_is_error(*e) for e in events), "the primary's failure never reached the client"
    if api == "anthropic":
        names = [n for n, _ in events]
        assert names.count("message_start") == 1 and names[-1] == "message_stop", names
    if api == "responses":
        names = [n for n, _ in events]
        assert names.count("response.created") == 1 and names[-1] == "response.completed"
    if api == "chat":
        assert events[-1][1] == "[DONE]"
    assert sdk_text == SECOND
    assert len(setup.primary.requests) == 2 and len(setup.second.requests) == 2


@pytest.mark.parametrize(("api", "second"), [("anthropic", "gemini"), ("gemini", "chat")])
async def test_failover_after_pings_to_another_format_is_translated_into_the_same_stream(
    start_router, stack, api, second
):
    setup = await _setup(start_router, stack, api, {"keepalive_seconds": N}, second=second)
    setup.primary.enqueue(Delay(2.5, Fail(500)), Delay(2.5, Fail(500)))
    setup.second.enqueue(Reply(text=SECOND), Reply(text=SECOND))
    raw, sdk_text = await asyncio.gather(_raw(setup.router.url, api), _sdk_ask(setup.router, api))
    events = read_events(_assert_pinged(api, raw).decode())
    assert _text_of(api, events) == SECOND
    assert not any(_is_error(*e) for e in events)
    assert sdk_text == SECOND


async def test_a_client_leaving_during_pings_leaves_nothing_running(start_router, stack):
    setup = await _setup(start_router, stack, "anthropic", {"keepalive_seconds": N})
    setup.primary.enqueue(Hang())
    path, headers, body = _request("anthropic")
    async with httpx.AsyncClient(base_url=setup.router.url, timeout=10) as http:
        async with http.stream("POST", path, json=body, headers=headers) as resp:
            first = await anext(resp.aiter_raw())
            assert first == SIGNALS["anthropic"]
    # Gone: the handler is cancelled, and with it the signal and the upstream call.
    deadline = time.monotonic() + 5
    while any(t.get_name() == "keepalive" for t in asyncio.all_tasks()):
        assert time.monotonic() < deadline, "the keep-alive task outlived its client"
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=setup.router.url, timeout=5) as http:
        assert (await http.get("/healthz")).status_code == 200
    assert not setup.second.requests, "a client that left is not failed over"


@pytest.mark.parametrize("api", APIS)
async def test_every_provider_failing_after_pings_ends_with_one_error_event(
    start_router, stack, api
):
    setup = await _setup(start_router, stack, api, {"keepalive_seconds": N})
    setup.primary.enqueue(Delay(2.5, Fail(500)), Delay(2.5, Fail(500)))
    setup.second.enqueue(Fail(503), Fail(503))

    async def sdk() -> BaseException | None:
        try:
            await _sdk_ask(setup.router, api)
        except SDK_ERRORS[api] as exc:
            return exc
        return None

    raw, sdk_error = await asyncio.gather(_raw(setup.router.url, api), sdk())
    rest = _assert_pinged(api, raw)
    events = read_events(rest.decode())
    assert [e for e in events if _is_error(*e)] == [events[-1]], "one error event, the last"
    name, data = events[-1]
    payload = json.loads(data)
    if api == "anthropic":
        assert name == "error" and payload["error"]["type"] in ("api_error", "overloaded_error")
    elif api == "responses":  # the lifecycle a Responses client expects, then the failure
        names = [n for n, _ in events]
        assert names == ["response.created", "response.in_progress", "response.failed"]
        ids = {json.loads(d)["response"]["id"] for _, d in events}
        assert len(ids) == 1 and payload["response"]["status"] == "failed"
    elif api == "gemini":
        assert payload["error"]["status"] in ("INTERNAL", "UNAVAILABLE")
    else:
        assert payload["error"]["type"] in ("server_error", "service_unavailable_error")
    assert rest.replace(b"\r\n", b"\n").endswith(b"\n\n"), "ended cleanly after the event"
    assert sdk_error is not None, "the SDK reports the error"
    if api == "responses":  # the stream helper's own words for a response.failed stream
        assert "response.completed" in str(sdk_error), sdk_error
    else:
        assert len(events) == 1


@pytest.mark.parametrize("api", APIS)
async def test_off_by_default_nothing_is_sent_before_the_content(start_router, stack, api):
    setup = await _setup(start_router, stack, api, {})
    setup.primary.enqueue(Delay(2.5, Reply(text=ANSWER)))
    raw = await _raw(setup.router.url, api)
    assert raw.status == 200
    assert _leading_pings(api, raw.body)[0] == 0
    assert raw.headers_at >= 2.0, "without keep-alive the status waits for the upstream"
    assert _text_of(api, read_events(raw.body.decode())) == ANSWER


async def test_gemini_json_array_stream_gets_whitespace_then_a_valid_array(start_router, stack):
    setup = await _setup(start_router, stack, "gemini", {"keepalive_seconds": N})
    setup.primary.enqueue(Delay(SLOW, Reply(text=ANSWER)))
    setup.second.enqueue(Fail(503))
    raw = await _raw(setup.router.url, "gemini", sse=False)
    assert raw.status == 200 and raw.content_type.startswith("application/json")
    assert raw.body.startswith(b"\n\n"), raw.body[:80]
    elements = json.loads(raw.body)  # whitespace before "[" is valid JSON
    texts = [p["text"] for e in elements for c in e["candidates"] for p in c["content"]["parts"]]
    assert "".join(texts) == ANSWER

    setup.primary.enqueue(Delay(2.5, Fail(500)))  # and when all fail: one error element
    raw = await _raw(setup.router.url, "gemini", sse=False)
    assert raw.body.startswith(b"\n\n")
    elements = json.loads(raw.body)
    assert len(elements) == 1 and elements[0]["error"]["status"] in ("INTERNAL", "UNAVAILABLE")


async def test_non_stream_keepalive_is_off_unless_keepalive_nonstream(start_router, stack):
    setup = await _setup(start_router, stack, "chat", {"keepalive_seconds": N})
    setup.primary.enqueue(Delay(2.5, Reply(text=ANSWER)))
    raw = await _raw(setup.router.url, "chat", stream=False)
    assert raw.headers_at >= 2.0 and not raw.body.startswith(b"\n")
    assert json.loads(raw.body)["choices"][0]["message"]["content"] == ANSWER


async def test_non_stream_keepalive_sends_whitespace_before_the_json(start_router, stack):
    server = {"keepalive_seconds": N, "keepalive_nonstream": True}
    setup = await _setup(start_router, stack, "chat", server)
    setup.primary.enqueue(Delay(SLOW, Reply(text=ANSWER)), Delay(SLOW, Reply(text=ANSWER)))
    driver = sdk_driver("chat", setup.router.url + "/v1", KEY, model=MODEL)
    try:
        raw, (sdk_text, _) = await asyncio.gather(
            _raw(setup.router.url, "chat", stream=False), driver.ask(stream=False)
        )
    finally:
        await driver.aclose()
    assert raw.status == 200 and raw.content_type.startswith("application/json")
    assert raw.body.startswith(b"\n\n") and raw.headers_at < SLOW - 1.0
    assert json.loads(raw.body)["choices"][0]["message"]["content"] == ANSWER
    assert sdk_text == ANSWER

    # Every provider fails after the status went out: the error is the JSON body.
    setup.primary.enqueue(Delay(2.5, Fail(500)))
    setup.second.enqueue(Fail(503))
    raw = await _raw(setup.router.url, "chat", stream=False)
    assert raw.status == 200 and raw.body.startswith(b"\n\n")
    assert json.loads(raw.body)["error"]["type"] in ("server_error", "service_unavailable_error")


@pytest.mark.parametrize(
    ("value", "words"),
    [(-1, "expected 0 (off) or 1 to 600"), (0.5, "expected 0 (off)"), ("soon", "a number")],
)
def test_keepalive_seconds_is_checked(value, words):
    with pytest.raises(ConfigError, match="server.keepalive_seconds") as info:
        parse_config({"server": {"keepalive_seconds": value}}, environ={})
    assert words in str(info.value)
    with pytest.raises(ConfigError, match="server.keepalive_second"):
        parse_config({"server": {"keepalive_second": 1}}, environ={})
    assert parse_config({}, environ={}).server.keepalive_seconds == 0
