"""Bad input at every endpoint never produces a 5xx, a traceback or a hang.

The router and three fake upstreams run on their own event loop in a thread,
so hypothesis can drive them with a plain blocking client.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.app import create_app
from tests.conftest import build_config
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI

KEY = "sk-fuzz"
MODELS = ["claude-f", "gpt-f", "gemini-f", "unknown-model", ""]


class _Served:
    """A router with fakes behind it, on a private loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.url = ""
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from aiohttp.test_utils import TestServer

        self._stop = asyncio.Event()
        async with FakeAnthropic() as a, FakeOpenAI() as o, FakeGemini() as g:
            config = build_config(
                {
                    "a": {"kind": "anthropic", "base_url": a.base_url, "api_keys": ["k"]},
                    "o": {"kind": "openai-compatible", "base_url": o.base_url, "api_keys": ["k"]},
                    "g": {"kind": "gemini", "base_url": g.base_url, "api_keys": ["k"]},
                },
                [
                    {"pattern": "^claude", "providers": ["a"]},
                    {"pattern": "^gpt", "providers": ["o"]},
                    {"pattern": "^gemini", "providers": ["g"]},
                ],
                api_keys=[KEY],
                server={"max_body_bytes": 65536},
            )
            server = TestServer(create_app(config), host="127.0.0.1")
            await server.start_server()
            self.url = f"http://127.0.0.1:{server.port}"
            self.ready.set()
            await self._stop.wait()
            await server.close()

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def served() -> Iterator[_Served]:
    s = _Served()
    s.thread.start()
    assert s.ready.wait(timeout=20), "router did not start"
    yield s
    s.stop()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "tool", "model", "x"]),
        "content": st.one_of(st.text(max_size=30), json_values),
    }
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"model": st.one_of(st.sampled_from(MODELS), json_values)},
        optional={
            "messages": st.one_of(st.lists(message, max_size=3), json_values),
            "max_tokens": st.one_of(st.integers(-5, 10**6), json_values),
            "stream": st.one_of(st.booleans(), json_values),
            "contents": st.one_of(
                st.lists(
                    st.fixed_dictionaries({"role": st.text(max_size=6), "parts": json_values}),
                    max_size=3,
                ),
                json_values,
            ),
            "tools": json_values,
        },
    ),
)
endpoints = st.sampled_from(
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages?beta=true"),
        ("POST", "/v1/messages/count_tokens"),
        ("POST", "/v1beta/models/gemini-f:generateContent"),
        ("POST", "/v1beta/models/gemini-f:streamGenerateContent?alt=sse"),
        ("POST", "/v1beta/models/gemini-f:countTokens"),
        ("POST", "/v1beta/models/claude-f:generateContent"),
        ("POST", "/v1beta/models/x:nonsense"),
        ("GET", "/v1/models"),
        ("GET", "/v1beta/models"),
        ("GET", "/v1beta/models/gemini-f"),
        ("POST", "/v1/models"),
        ("GET", "/v1/chat/completions"),
        ("POST", "/nope"),
    ]
)
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
    str.strip
)
auth_headers = st.sampled_from(
    [
        "Authorization",
        "x-api-key",
        "x-goog-api-key",
        "anthropic-version",
        "anthropic-beta",
        "Content-Type",
    ]
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=endpoints,
    body=st.one_of(bodies.map(orjson.dumps), st.binary(max_size=200)),
    extra=st.dictionaries(auth_headers, header_values, max_size=3),
    good_key=st.booleans(),
)
def test_no_input_makes_a_5xx(
    served: _Served, endpoint: tuple[str, str], body: bytes, extra: dict[str, str], good_key: bool
) -> None:
    method, path = endpoint
    headers = {**extra}
    if good_key:
        headers["x-api-key"] = KEY
        headers.pop("Authorization", None)
    with httpx.Client(timeout=15) as http:
        resp = http.request(method, served.url + path, content=body, headers=headers)
    assert resp.status_code < 500, (resp.status_code, resp.text[:300])
    assert resp.headers.get("X-Request-Id")
    if resp.status_code >= 400:
        err: Any = resp.json()
        assert "error" in err
        assert "Traceback" not in resp.text
        assert KEY not in resp.text and '"k"' not in resp.text
