"""Gemini clients (google-genai and the Gemini CLI's requests) to a Gemini upstream."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.conftest import build_config
from tests.fakes import Fail, FakeGemini, Reply, ResetAfter

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "clients"
KEY = "client-gemini-key"


async def _router(start_router, *fakes: FakeGemini):
    providers = {
        f"g{i}": {
            "kind": "gemini",
            "base_url": f.base_url,
            "api_keys": [f"AIza-upstream-{i}"],
            "models": ["gemini-test"],
        }
        for i, f in enumerate(fakes)
    }
    config = build_config(
        providers, [{"pattern": "^gemini-", "providers": list(providers)}], api_keys=[KEY]
    )
    return await start_router(config)


def _client(url: str, key: str = KEY) -> genai.Client:
    return genai.Client(
        api_key=key,
        http_options=types.HttpOptions(
            base_url=url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )


async def test_generate_content(start_router) -> None:
    async with FakeGemini() as fake:
        fake.default = Reply(text="gemini says hi", usage=(6, 4))
        r = await _router(start_router, fake)
        client = _client(r.url)
        out = await client.aio.models.generate_content(model="gemini-test", contents="hello")
        await client.aio.aclose()
        assert out.text == "gemini says hi"
        assert out.usage_metadata is not None and out.usage_metadata.prompt_token_count == 6
        sent = fake.requests[-1]
        assert sent.headers["x-goog-api-key"] == "AIza-upstream-0"
        assert "key" not in sent.query


async def test_stream_generate_content_sse(start_router) -> None:
    async with FakeGemini() as fake:
        fake.default = Reply(text="alpha beta gamma delta")
        r = await _router(start_router, fake)
        client = _client(r.url)
        parts = [
            c.text
            async for c in await client.aio.models.generate_content_stream(
                model="gemini-test", contents="hi"
            )
        ]
        await client.aio.aclose()
        assert "".join(p for p in parts if p) == "alpha beta gamma delta"
        assert len(parts) >= 4
        assert fake.requests[-1].query.get("alt") == "sse"


async def test_stream_without_alt_sse_is_a_json_array(start_router) -> None:
    async with FakeGemini() as fake:
        fake.default = Reply(text="x y z")
        r = await _router(start_router, fake)
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{r.url}/v1beta/models/gemini-test:streamGenerateContent",
                json=body,
                headers={"x-goog-api-key": KEY},
            )
        assert resp.status_code == 200
        chunks = resp.json()
        assert isinstance(chunks, list) and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
        text = "".join(
            p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"] if "text" in p
        )
        assert text == "x y z"


async def test_gemini_cli_requests_pass_through(start_router) -> None:
    async with FakeGemini() as fake:
        r = await _router(start_router, fake)
        async with httpx.AsyncClient(timeout=10) as http:
            for name in ("router-request.json", "turn1-request.json"):
                captured = json.loads((FIXTURES / "gemini-cli" / name).read_text())
                model = captured["path"].split("/models/")[1].split(":")[0]
                path = captured["path"].replace(model, "gemini-test")
                resp = await http.post(
                    f"{r.url}{path}", json=captured["body"], headers={"x-goog-api-key": KEY}
                )
                assert resp.status_code == 200, resp.text
                assert fake.requests[-1].json == captured["body"]


async def test_failover_between_gemini_keys(start_router) -> None:
    async with FakeGemini() as one, FakeGemini() as two:
        one.enqueue(Fail(503))
        two.default = Reply(text="second")
        r = await _router(start_router, one, two)
        client = _client(r.url)
        out = await client.aio.models.generate_content(model="gemini-test", contents="x")
        await client.aio.aclose()
        assert out.text == "second"


async def test_stream_cut_becomes_an_error_chunk(start_router) -> None:
    async with FakeGemini() as fake:
        fake.enqueue(ResetAfter(chunks=2))
        r = await _router(start_router, fake)
        client = _client(r.url)
        with pytest.raises(genai_errors.APIError):
            async for _ in await client.aio.models.generate_content_stream(
                model="gemini-test", contents="hi"
            ):
                pass
        await client.aio.aclose()


async def test_count_tokens_and_models(start_router) -> None:
    async with FakeGemini() as fake:
        r = await _router(start_router, fake)
        client = _client(r.url)
        counted = await client.aio.models.count_tokens(
            model="gemini-test", contents="count these words"
        )
        names = [m.name async for m in await client.aio.models.list()]
        got = await client.aio.models.get(model="gemini-test")
        await client.aio.aclose()
        assert counted.total_tokens and counted.total_tokens > 0
        assert fake.requests[-1].path.endswith(":countTokens")
        assert names == ["models/gemini-test"] and got.name == "models/gemini-test"


async def test_errors_in_gemini_shape(start_router) -> None:
    async with FakeGemini() as fake:
        r = await _router(start_router, fake)
        async with httpx.AsyncClient() as http:
            bad = await http.post(
                f"{r.url}/v1beta/models/gemini-test:generateContent",
                json={"contents": []},
                headers={"x-goog-api-key": KEY},
            )
            unknown = await http.post(
                f"{r.url}/v1beta/models/llama:generateContent",
                json={"contents": [{"parts": [{"text": "x"}]}]},
                headers={"x-goog-api-key": KEY},
            )
            nokey = await http.post(f"{r.url}/v1beta/models/gemini-test:generateContent", json={})
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert "contents" in bad.json()["error"]["message"]
        assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"
        assert nokey.status_code == 401 and nokey.json()["error"]["status"] == "UNAUTHENTICATED"


async def test_bad_upstream_key_fails_over_and_rests(start_router) -> None:
    async with FakeGemini(api_keys=("AIza-upstream-1",)) as one, FakeGemini() as two:
        # `one` only accepts a key the router does not have: Google answers 400 API_KEY_INVALID.
        two.default = Reply(text="from two")
        r = await _router(start_router, one, two)
        client = _client(r.url)
        for _ in range(2):
            out = await client.aio.models.generate_content(model="gemini-test", contents="x")
            assert out.text == "from two"
        await client.aio.aclose()
        assert len(one.requests) == 1  # the refused key is out of rotation after one try


async def test_gemini_429_retry_delay_from_the_body(start_router) -> None:
    async with FakeGemini() as one:
        one.enqueue(Fail(429, retry_after=17))
        r = await _router(start_router, one)
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{r.url}/v1beta/models/gemini-test:generateContent",
                json={"contents": [{"role": "user", "parts": [{"text": "x"}]}]},
                headers={"x-goog-api-key": KEY},
            )
        assert resp.status_code == 429
        assert resp.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert 16 <= int(resp.headers["Retry-After"]) <= 17
