"""OpenAI clients through the router to an OpenAI-compatible upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import build_config
from tests.fakes import FakeOpenAI, Reply, ToolCall

KEY = "sk-client-openai"


async def _router(start_router, fake: FakeOpenAI, **rule_extra):
    config = build_config(
        {
            "oa": {
                "kind": "openai-compatible",
                "base_url": fake.base_url,
                "api_keys": ["sk-up-1", "sk-up-2"],
                "models": ["gpt-test"],
            }
        },
        [{"pattern": "^gpt-", "providers": ["oa"], **rule_extra}],
        api_keys=[KEY],
    )
    return await start_router(config)


def _client(url: str, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


async def test_non_stream(start_router) -> None:
    async with FakeOpenAI() as fake:
        fake.default = Reply(text="plain answer", usage=(9, 3))
        r = await _router(start_router, fake)
        async with _client(r.url) as client:
            out = await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "hi"}]
            )
        assert out.choices[0].message.content == "plain answer"
        assert out.usage is not None and (out.usage.prompt_tokens, out.usage.completion_tokens) == (
            9,
            3,
        )
        assert fake.requests[-1].headers["Authorization"] in ("Bearer sk-up-1", "Bearer sk-up-2")


async def test_stream_with_usage(start_router) -> None:
    async with FakeOpenAI() as fake:
        fake.default = Reply(text="a b c d e", usage=(4, 5))
        r = await _router(start_router, fake)
        async with _client(r.url) as client:
            stream = await client.chat.completions.create(
                model="gpt-test",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            parts, usage = [], None
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
                if chunk.usage:
                    usage = chunk.usage
        assert "".join(parts) == "a b c d e" and len(parts) == 5
        assert usage is not None and usage.completion_tokens == 5


async def test_keys_take_turns(start_router) -> None:
    async with FakeOpenAI() as fake:
        r = await _router(start_router, fake)
        async with _client(r.url) as client:
            for _ in range(4):
                await client.chat.completions.create(
                    model="gpt-test", messages=[{"role": "user", "content": "x"}]
                )
        used = [req.headers["Authorization"] for req in fake.requests]
        assert used.count("Bearer sk-up-1") == 2 and used.count("Bearer sk-up-2") == 2


async def test_parallel_tool_calls_stream(start_router) -> None:
    async with FakeOpenAI() as fake:
        fake.default = Reply(
            tool_calls=(ToolCall("call_a", "f", {"x": 1}), ToolCall("call_b", "g", {"y": "z"}))
        )
        r = await _router(start_router, fake)
        tools = [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
            for n in ("f", "g")
        ]
        async with _client(r.url) as client:
            async with client.chat.completions.stream(
                model="gpt-test", messages=[{"role": "user", "content": "x"}], tools=tools
            ) as stream:
                async for _ in stream:
                    pass
                final = await stream.get_final_completion()
        calls = final.choices[0].message.tool_calls or []
        assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
            ("call_a", "f", '{"x":1}'),
            ("call_b", "g", '{"y":"z"}'),
        ] or [(c.id, c.function.name) for c in calls] == [("call_a", "f"), ("call_b", "g")]
        assert final.choices[0].finish_reason == "tool_calls"


async def test_alias(start_router) -> None:
    async with FakeOpenAI() as fake:
        config = build_config(
            {"oa": {"kind": "openai-compatible", "base_url": fake.base_url, "api_keys": ["k"]}},
            [{"pattern": "^my-fast$", "providers": ["oa"], "model": "meta-llama/llama-3.3-70b"}],
            api_keys=[KEY],
        )
        r = await start_router(config)
        async with _client(r.url) as client:
            await client.chat.completions.create(
                model="my-fast", messages=[{"role": "user", "content": "x"}]
            )
            listed = [m.id async for m in client.models.list()]
        assert fake.requests[-1].json["model"] == "meta-llama/llama-3.3-70b"
        assert listed == ["my-fast"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "gpt-test"}, "messages"),
        ({"model": "gpt-test", "messages": []}, "messages"),
        (
            {"model": "gpt-test", "messages": [{"role": "wizard", "content": "x"}]},
            "messages[0].role",
        ),
        ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        (
            {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
            "stream",
        ),
    ],
)
async def test_bad_input_is_400_naming_the_field(start_router, body: dict, param: str) -> None:
    async with FakeOpenAI() as fake:
        r = await _router(start_router, fake)
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{r.url}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {KEY}"},
            )
        assert resp.status_code == 400
        assert resp.json()["error"]["param"] == param
        assert resp.json()["error"]["type"] == "invalid_request_error"
        assert fake.requests == []


async def test_missing_and_wrong_key_are_401(start_router) -> None:
    async with FakeOpenAI() as fake:
        r = await _router(start_router, fake)
        async with _client(r.url, key="nope") as client:
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(
                    model="gpt-test", messages=[{"role": "user", "content": "x"}]
                )
        async with httpx.AsyncClient() as http:
            resp = await http.post(f"{r.url}/v1/chat/completions", json={})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
        assert fake.requests == []


async def test_key_accepted_in_every_documented_place(start_router) -> None:
    async with FakeOpenAI() as fake:
        r = await _router(start_router, fake)
        async with httpx.AsyncClient() as http:
            for headers, params in (
                ({"Authorization": f"Bearer {KEY}"}, {}),
                ({"x-api-key": KEY}, {}),
                ({"x-goog-api-key": KEY}, {}),
                ({}, {"key": KEY}),
            ):
                resp = await http.get(f"{r.url}/v1/models", headers=headers, params=params)
                assert resp.status_code == 200, (headers, params)


async def test_models_list_openai_shape(start_router) -> None:
    async with FakeOpenAI() as fake:
        r = await _router(start_router, fake)
        async with _client(r.url) as client:
            models = [m async for m in client.models.list()]
        assert [(m.id, m.owned_by) for m in models] == [("gpt-test", "oa")]
