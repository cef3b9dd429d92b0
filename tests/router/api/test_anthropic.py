"""Anthropic clients through the router to an Anthropic upstream (passthrough)."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import orjson
import pytest

from tests.conftest import build_config
from tests.fakes import FakeAnthropic, Reply, ToolCall

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "clients"
KEY = "sk-client-test"


def client_version(client: anthropic.AsyncAnthropic) -> str:
    return str(client.default_headers["anthropic-version"])


async def _router(start_router, fake: FakeAnthropic, alias: str | None = None):
    rule: dict = {"pattern": "^claude-", "providers": ["anth"]}
    if alias:
        rule = {"pattern": "^my-claude$", "providers": ["anth"], "model": alias}
    config = build_config(
        {
            "anth": {
                "kind": "anthropic",
                "base_url": fake.base_url,
                "api_keys": ["sk-ant-upstream"],
                "models": ["claude-sonnet-5"],
            }
        },
        [rule],
        api_keys=[KEY],
    )
    return await start_router(config)


async def test_sdk_non_stream_gets_what_upstream_said(start_router) -> None:
    async with FakeAnthropic(api_keys=("sk-ant-upstream",)) as fake:
        fake.default = Reply(text="Bonjour from upstream", usage=(11, 5))
        r = await _router(start_router, fake)
        async with anthropic.AsyncAnthropic(base_url=r.url, api_key=KEY) as client:
            msg = await client.messages.create(
                model="claude-sonnet-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
            )
        assert msg.content[0].type == "text" and msg.content[0].text == "Bonjour from upstream"
        assert (msg.usage.input_tokens, msg.usage.output_tokens) == (11, 5)
        sent = fake.requests[-1]
        assert sent.headers["x-api-key"] == "sk-ant-upstream"
        assert KEY not in str(dict(sent.headers))
        assert sent.headers["anthropic-version"] == client_version(client)


async def test_sdk_stream_relays_every_event(start_router) -> None:
    async with FakeAnthropic() as fake:
        fake.default = Reply(text="one two three four", thinking="let me think")
        r = await _router(start_router, fake)
        async with anthropic.AsyncAnthropic(base_url=r.url, api_key=KEY) as client:
            async with client.messages.stream(
                model="claude-sonnet-5",
                max_tokens=2048,
                messages=[{"role": "user", "content": "hi"}],
                thinking={"type": "enabled", "budget_tokens": 1024},
            ) as stream:
                texts = [t async for t in stream.text_stream]
                final = await stream.get_final_message()
        assert "".join(texts) == "one two three four"
        assert len(texts) >= 4
        assert final.content[0].type == "thinking" and final.content[0].signature
        assert final.stop_reason == "end_turn"


async def test_tool_use_round_trip(start_router) -> None:
    async with FakeAnthropic() as fake:
        fake.enqueue(Reply(tool_calls=(ToolCall("toolu_01", "get_weather", {"city": "Paris"}),)))
        fake.enqueue(Reply(text="It is sunny"))
        r = await _router(start_router, fake)
        tools = [
            {
                "name": "get_weather",
                "description": "w",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ]
        async with anthropic.AsyncAnthropic(base_url=r.url, api_key=KEY) as client:
            first = await client.messages.create(
                model="claude-sonnet-5",
                max_tokens=64,
                tools=tools,
                messages=[{"role": "user", "content": "weather?"}],
            )
            assert first.stop_reason == "tool_use"
            call = first.content[-1]
            assert call.type == "tool_use" and call.input == {"city": "Paris"}
            second = await client.messages.create(
                model="claude-sonnet-5",
                max_tokens=64,
                tools=tools,
                messages=[
                    {"role": "user", "content": "weather?"},
                    {"role": "assistant", "content": [c.model_dump() for c in first.content]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}
                        ],
                    },
                ],
            )
        assert second.content[0].text == "It is sunny"


async def test_claude_code_turn2_passes_through_unchanged(start_router) -> None:
    captured = json.loads((FIXTURES / "claude-code" / "turn2-request.json").read_text())
    async with FakeAnthropic() as fake:
        r = await _router(start_router, fake)
        headers = {
            k: v
            for k, v in captured["headers"].items()
            if k.lower() not in ("content-length", "accept-encoding", "connection")
        }
        headers["x-api-key"] = KEY
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.post(
                f"{r.url}{captured['path']}", json=captured["body"], headers=headers
            )
        assert resp.status_code == 200, resp.text
        got = fake.requests[-1]
        assert (
            got.json == captured["body"]
        )  # unchanged in meaning: every field, cache_control, signatures
        assert got.headers["anthropic-beta"] == captured["headers"]["anthropic-beta"]
        assert got.headers["x-api-key"] != KEY


async def test_alias_rewrites_only_the_model(start_router) -> None:
    async with FakeAnthropic() as fake:
        r = await _router(start_router, fake, alias="claude-sonnet-4-5")
        body = {
            "model": "my-claude",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
                    ],
                }
            ],
            "x_unknown": {"a": [1, 2]},
        }
        async with httpx.AsyncClient() as http:
            resp = await http.post(f"{r.url}/v1/messages", json=body, headers={"x-api-key": KEY})
        assert resp.status_code == 200
        assert fake.requests[-1].json == {**body, "model": "claude-sonnet-4-5"}
        # a client that sends no anthropic-version gets the one the API requires
        assert fake.requests[-1].headers["anthropic-version"] == "2023-06-01"


async def test_count_tokens_forwarded_to_anthropic(start_router) -> None:
    async with FakeAnthropic() as fake:
        r = await _router(start_router, fake)
        async with anthropic.AsyncAnthropic(base_url=r.url, api_key=KEY) as client:
            counted = await client.messages.count_tokens(
                model="claude-sonnet-5", messages=[{"role": "user", "content": "hello there"}]
            )
        assert counted.input_tokens > 0
        assert fake.requests[-1].path == "/v1/messages/count_tokens"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "JSON"),
        (orjson.dumps({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}), "model"),
        (
            orjson.dumps({"model": "claude-x", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (orjson.dumps({"model": "claude-x", "max_tokens": "5", "messages": []}), "max_tokens"),
        (
            orjson.dumps(
                {
                    "model": "claude-x",
                    "max_tokens": 5,
                    "messages": [{"role": "robot", "content": "x"}],
                }
            ),
            "role",
        ),
    ],
)
async def test_bad_input_is_a_400_in_anthropic_shape(start_router, body: bytes, field: str) -> None:
    async with FakeAnthropic() as fake:
        r = await _router(start_router, fake)
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{r.url}/v1/messages?beta=true", content=body, headers={"x-api-key": KEY}
            )
        assert resp.status_code == 400
        err = resp.json()
        assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
        assert field in err["error"]["message"]
        assert resp.headers["X-Request-Id"]
        assert fake.requests == []


async def test_wrong_key_is_401_in_anthropic_shape(start_router) -> None:
    async with FakeAnthropic() as fake:
        r = await _router(start_router, fake)
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key="wrong", max_retries=0
        ) as client:
            with pytest.raises(anthropic.AuthenticationError) as err:
                await client.messages.create(
                    model="claude-sonnet-5",
                    max_tokens=5,
                    messages=[{"role": "user", "content": "x"}],
                )
        assert err.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        assert "wrong" not in str(err.value.body)


async def test_models_list_in_anthropic_shape(start_router) -> None:
    async with FakeAnthropic() as fake:
        r = await _router(start_router, fake)
        async with anthropic.AsyncAnthropic(base_url=r.url, api_key=KEY) as client:
            page = await client.models.list()
        assert [m.id for m in page.data] == ["claude-sonnet-5"]


async def test_thinking_signed_by_another_provider_is_not_replayed(start_router) -> None:
    """After a failover a client may hold thinking another provider signed; Anthropic
    would refuse it, so passthrough drops those blocks and keeps everything else."""
    from router.formats._common import export_signature

    foreign = export_signature("sig-made-by-gemini", "gemini", "anthropic")
    own = "native-anthropic-signature"
    async with FakeAnthropic() as fake:
        r = await _router(start_router, fake)
        tool_use = {"type": "tool_use", "id": "toolu_9", "name": "ls", "input": {}}
        body = {
            "model": "claude-sonnet-5",
            "max_tokens": 64,
            "messages": [
                {"role": "user", "content": "list"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "from gemini", "signature": foreign},
                        tool_use,
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_9", "content": "a b"}
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "mine", "signature": own},
                        {"type": "text", "text": "done"},
                    ],
                },
                {"role": "user", "content": "thanks"},
            ],
        }
        async with httpx.AsyncClient() as http:
            resp = await http.post(f"{r.url}/v1/messages", json=body, headers={"x-api-key": KEY})
        assert resp.status_code == 200, resp.text
        sent = fake.requests[-1].json
        blocks = [
            b for m in sent["messages"] if isinstance(m["content"], list) for b in m["content"]
        ]
        signatures = [b.get("signature") for b in blocks if b["type"] == "thinking"]
        assert foreign not in signatures and own in signatures
        assert tool_use in blocks
