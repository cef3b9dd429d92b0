"""The fakes, driven directly by the official SDKs: if the SDK parses it, the
wire format is right; if the SDK raises the right exception, so are the
error statuses and bodies. Raw-HTTP tests cover what the SDKs do not check
(framing bytes, validation texts, captured client requests)."""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import httpx2
import openai
import pytest
from google.genai import errors as genai_errors
from google.genai import types as genai_types

import tests.fakes as fakes
from tests.fakes import (
    Delay,
    Fail,
    FailAfter,
    FakeAnthropic,
    FakeGemini,
    FakeOpenAI,
    Hang,
    Reply,
    ResetAfter,
    ToolCall,
    thinking_signature,
    unused_port,
)
from tests.fakes._claude_subscription import expected_billing_hex
from tests.fakes.sdk import Answer, SdkDriver, sdk_driver

FIXTURES = Path("/work/shared/fixtures/clients")
KEY = "sk-test-key"
CALL = ToolCall("call_01", "get_weather", {"city": "Paris", "days": [1, 2]})
USER: Any = [{"role": "user", "content": "hi"}]
GEMINI = "gemini-2.5-flash"
RESET_ERRORS: tuple[type[Exception], ...] = (
    anthropic.APIConnectionError, openai.APIConnectionError, httpx2.TransportError, aiohttp.ClientError
)  # fmt: skip


def fixture(name: str) -> dict[str, Any]:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


async def post(
    url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any, bytes]:
    """A raw POST, for bodies and bytes the SDKs would never produce."""
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers or {}) as resp:
            return resp.status, resp.headers, await resp.read()


@dataclass
class Sdk:
    """A fake plus an SDK driver pointed at it."""

    api: str
    fake: Any
    driver: SdkDriver

    @property
    def client(self) -> Any:
        return self.driver.client

    async def ask(self, stream: bool) -> Answer:
        return await self.driver.ask(stream)


def make_sdk(api: str, fake: Any, key: str = KEY) -> Sdk:
    return Sdk(
        api, fake, sdk_driver(api, fake.base_url, key, model=GEMINI if api == "gemini" else "m")
    )


async def close_sdk(sdk: Sdk) -> None:
    await sdk.driver.aclose()


FAKE_OF = {"anthropic": FakeAnthropic, "chat": FakeOpenAI, "responses": FakeOpenAI, "gemini": FakeGemini}  # fmt: skip


async def driven(api: str) -> AsyncIterator[Sdk]:
    async with FAKE_OF[api](api_keys=(KEY,)) as fake:
        driver = make_sdk(api, fake)
        yield driver
        await close_sdk(driver)


@pytest.fixture(params=list(FAKE_OF))
async def sdk(request: pytest.FixtureRequest) -> AsyncIterator[Sdk]:
    async for driver in driven(request.param):
        yield driver


def _one_api(api: str) -> Any:
    async def fixture() -> AsyncIterator[Sdk]:
        async for driver in driven(api):
            yield driver

    return fixture


ant = pytest.fixture(_one_api("anthropic"), name="ant")
oai = pytest.fixture(_one_api("chat"), name="oai")
gem = pytest.fixture(_one_api("gemini"), name="gem")


# -- every API, through its SDK -------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_text_and_usage(sdk: Sdk, stream: bool) -> None:
    sdk.fake.enqueue(Reply(text="Hello brave new world", usage=(11, 7)))
    assert await sdk.ask(stream) == ("Hello brave new world", (11, 7))
    text, usage = await sdk.ask(stream)  # default usage: body bytes // 4, answer chars // 4
    assert (text, usage) == ("Hello from fake", (len(sdk.fake.requests[-1].body) // 4, 3))


SDK_ERRORS: dict[str, dict[int, type[Exception]]] = {
    "anthropic": {401: anthropic.AuthenticationError, 429: anthropic.RateLimitError,
                  500: anthropic.InternalServerError, 529: anthropic.OverloadedError},
    "chat": {401: openai.AuthenticationError, 429: openai.RateLimitError,
             500: openai.InternalServerError, 503: openai.InternalServerError},
    "gemini": {400: genai_errors.ClientError, 429: genai_errors.ClientError,
               500: genai_errors.ServerError, 503: genai_errors.ServerError},
}  # fmt: skip
SDK_ERRORS["responses"] = SDK_ERRORS["chat"]


async def test_fail_raises_the_sdk_error_for_its_status(sdk: Sdk) -> None:
    for status, error in SDK_ERRORS[sdk.api].items():
        if status in (400, 401):
            continue
        sdk.fake.enqueue(Fail(status, retry_after=4))
        with pytest.raises(error) as caught:
            await sdk.ask(False)
        assert getattr(caught.value, "status_code", getattr(caught.value, "code", None)) == status


async def test_wrong_key_raises_the_sdk_auth_error(sdk: Sdk) -> None:
    wrong = make_sdk(sdk.api, sdk.fake, key="wrong-key-123")
    status = 400 if sdk.api == "gemini" else 401  # Google: 400 API_KEY_INVALID
    with pytest.raises(SDK_ERRORS[sdk.api][status]):
        await wrong.ask(False)
    await close_sdk(wrong)


@pytest.mark.parametrize("stream", [False, True])
async def test_reset_after_raises_in_the_sdk(sdk: Sdk, stream: bool) -> None:
    sdk.fake.enqueue(ResetAfter(chunks=1))
    with pytest.raises(RESET_ERRORS):
        await sdk.ask(stream)


IN_STREAM_ERRORS: dict[str, type[Exception]] = {
    "anthropic": anthropic.APIStatusError,  # from `event: error`
    "chat": openai.APIError,  # from `data: {"error": ...}`
    "responses": RuntimeError,  # the SDK's "no response.completed" after response.failed
    "gemini": genai_errors.ServerError,  # from `data: {"error": ...}`
}


async def test_fail_after_sends_the_in_stream_error_event(sdk: Sdk) -> None:
    sdk.fake.enqueue(FailAfter(chunks=2, status=503))
    with pytest.raises(IN_STREAM_ERRORS[sdk.api]):
        await sdk.ask(True)
    sdk.fake.enqueue(FailAfter(chunks=2, status=503))
    with pytest.raises(SDK_ERRORS[sdk.api][503 if sdk.api != "anthropic" else 500]):
        await sdk.ask(False)  # before any byte: a plain error answer


async def test_behaviours_are_consumed_in_order_and_recorded(sdk: Sdk) -> None:
    sdk.fake.enqueue(Reply(text="one"), Delay(0.2, then=Reply(text="two")))
    started = time.monotonic()
    assert [(await sdk.ask(False))[0] for _ in range(3)] == ["one", "two", "Hello from fake"]
    assert time.monotonic() - started >= 0.2
    rec = sdk.fake.requests[0]
    assert rec.method == "POST" and json.loads(rec.body) == rec.json
    auth = rec.headers.get("authorization") or rec.headers.get("x-goog-api-key")
    assert KEY in auth


CAPTURED = [
    ("anthropic", "claude-code/turn1-request.json", b'data: {"type":"message_stop"}\n\n'),
    ("anthropic", "claude-code/turn2-request.json", b'data: {"type":"message_stop"}\n\n'),
    ("responses", "codex/turn1-request.json", b"event: response.completed"),
    ("gemini", "gemini-cli/router-request.json", b'"finishReason": "STOP"'),
    ("gemini", "gemini-cli/turn1-request.json", b'"finishReason": "STOP"'),
]


@pytest.mark.parametrize(("api", "name", "ending"), CAPTURED)
async def test_accepts_captured_client_requests(api: str, name: str, ending: bytes) -> None:
    """Real requests from Claude Code, Codex CLI and Gemini CLI pass validation."""
    captured = fixture(name)
    skip = ("accept-encoding", "connection", "content-length")
    headers = {k: v for k, v in captured["headers"].items() if k.lower() not in skip}
    headers.update({"x-api-key": KEY, "x-goog-api-key": KEY, "Authorization": f"Bearer {KEY}"})
    async with FAKE_OF[api](api_keys=(KEY,)) as fake:
        root = fake.base_url.removesuffix("/v1")
        status, _, raw = await post(root + captured["path"], captured["body"], headers)
    assert status == 200 and ending in raw, raw[-300:]


# -- shared surface -------------------------------------------------------------


def test_exported_members_match_all() -> None:
    public = {
        n for n in dir(fakes) if not n.startswith("_") and not inspect.ismodule(getattr(fakes, n))
    }
    assert sorted(fakes.__all__) == fakes.__all__ and set(fakes.__all__) == public


async def test_unused_port_refuses_connections() -> None:
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", unused_port())


async def test_hang_never_answers_and_does_not_block_close() -> None:
    fake = await FakeOpenAI().start()
    fake.enqueue(Hang(), Hang())
    client = openai.AsyncOpenAI(api_key="x", base_url=fake.base_url, max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="m", messages=USER)
    pending = asyncio.ensure_future(client.chat.completions.create(model="m", messages=USER))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await fake.close()
    assert time.monotonic() - started < 2
    with pytest.raises(openai.APIError):
        await pending
    await client.close()


def test_cli_serves_until_sigterm() -> None:
    cmd = [sys.executable, "-m", "tests.fakes", "anthropic", "--port", "0", "--text", "pong"]
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=root) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("ready http://127.0.0.1:")
            client = anthropic.Anthropic(api_key="any", base_url=line.split()[1], max_retries=0)
            msg = client.messages.create(model="m", max_tokens=5, messages=USER)
            client.close()
            assert msg.content[0].text == "pong"  # type: ignore[union-attr]
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0


# -- Anthropic ---------------------------------------------------------------------


async def test_anthropic_stream_thinking_and_tool(ant: Sdk) -> None:
    ant.fake.enqueue(Reply(text="Checking.", thinking="Needs a tool", tool_calls=(CALL,)))
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    async with ant.client.messages.stream(
        model="m", max_tokens=4096, thinking=thinking, messages=USER
    ) as stream:
        msg = await stream.get_final_message()
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert msg.content[0].signature == thinking_signature("Needs a tool")
    assert msg.content[2].input == dict(CALL.arguments) and msg.content[2].id == CALL.id
    assert msg.stop_reason == "tool_use"


async def test_anthropic_wire_framing_and_error_headers(ant: Sdk) -> None:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "m", "max_tokens": 5, "stream": True, "messages": USER}
    status, got, raw = await post(ant.fake.base_url + "/v1/messages?beta=true", body, headers)
    assert status == 200 and got["content-type"].startswith("text/event-stream")
    names = [line[7:] for line in raw.decode().split("\n") if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert raw.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    ant.fake.enqueue(Fail(529, retry_after=4))
    status, got, raw = await post(ant.fake.base_url + "/v1/messages", body, headers)
    error = json.loads(raw)
    assert status == 529 and error["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert got["retry-after"] == "4" and got["request-id"] == error["request_id"]
    status, _, raw = await post(ant.fake.base_url + "/v1/messages", body, {"x-api-key": "bad"})
    assert status == 401 and json.loads(raw)["error"]["message"] == "invalid x-api-key"


async def test_anthropic_rejects_broken_tool_pairs(ant: Sdk) -> None:
    create = ant.client.messages.create
    result: Any = [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]
    orphan = [USER[0], {"role": "assistant", "content": "ok"}, {"role": "user", "content": result}]
    pattern = r"messages\.2\.content\.0: unexpected `tool_use_id` found in `tool_result`"
    with pytest.raises(anthropic.BadRequestError, match=pattern):
        await create(model="m", max_tokens=5, messages=orphan)
    use: Any = [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]
    unanswered = [USER[0], {"role": "assistant", "content": use}, USER[0]]
    with pytest.raises(anthropic.BadRequestError, match="without `tool_result` blocks.*toolu_1"):
        await create(model="m", max_tokens=5, messages=unanswered)
    with pytest.raises(anthropic.BadRequestError, match='first message must use the "user" role'):
        await create(model="m", max_tokens=5, messages=[{"role": "assistant", "content": "x"}])


async def test_anthropic_count_tokens_and_models(ant: Sdk) -> None:
    count = await ant.client.messages.count_tokens(model="m", messages=USER)
    assert count.input_tokens == len(ant.fake.requests[-1].body) // 4
    assert "claude-sonnet-4-5-20250929" in [m.id async for m in ant.client.models.list()]


async def test_anthropic_oauth_token_rules() -> None:
    async with FakeAnthropic(api_keys=("sk-ant-oat01-x",)) as fake:
        url = fake.base_url + "/v1/messages"
        body: dict[str, Any] = {"model": "m", "max_tokens": 5, "messages": USER}
        auth = {"Authorization": "Bearer sk-ant-oat01-x", "anthropic-version": "2023-06-01"}
        status, _, raw = await post(url, body, auth)
        assert status == 401 and b"OAuth authentication is currently not supported" in raw
        auth["anthropic-beta"] = "oauth-2025-04-20,claude-code-20250219"
        status, _, raw = await post(url, body, auth)
        assert status == 400 and b"only authorized for use with Claude Code" in raw
        identity = "You are Claude Code, Anthropic's official CLI for Claude."
        body["system"] = [{"type": "text", "text": identity}]
        status, _, raw = await post(url, body, auth)  # identity alone: billed as a third party
        assert status == 400 and b"Third-party apps now draw from your extra usage" in raw
        billing = "x-anthropic-billing-header: cc_version=2.1.337.%s; cc_entrypoint=cli;"
        body["system"].insert(0, {"type": "text", "text": billing % "000"})
        user = '{"device_id":"%s","account_uuid":"u","session_id":"s"}' % ("ab" * 32)
        body["metadata"] = {"user_id": user}
        assert (await post(url, body, auth))[0] == 400  # the hex does not match the prompt
        body["system"][0]["text"] = billing % expected_billing_hex("hi", "2.1.337")
        status, headers, _ = await post(url, body, auth)
        assert status == 200 and headers["anthropic-ratelimit-unified-status"] == "allowed"
        body["metadata"] = {"user_id": "not json"}
        assert (await post(url, body, auth))[0] == 400


# -- OpenAI -----------------------------------------------------------------------------


async def test_openai_chat_stream_tool_calls(oai: Sdk) -> None:
    oai.fake.enqueue(Reply(text="Checking", tool_calls=(CALL,)))
    chunks = await oai.client.chat.completions.create(model="m", messages=USER, stream=True)
    args, ids, finish = "", [], None
    async for chunk in chunks:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                ids += [call.id] if call.id else []
                args += call.function.arguments or "" if call.function else ""
            finish = choice.finish_reason or finish
    assert ids == [CALL.id] and json.loads(args) == dict(CALL.arguments)
    assert finish == "tool_calls"
    body = {"model": "m", "messages": USER, "stream": True}
    status, got, raw = await post(oai.fake.base_url + "/chat/completions", body)
    assert status == 401 and b"You didn't provide an API key" in raw
    auth = {"Authorization": f"Bearer {KEY}"}
    status, got, raw = await post(oai.fake.base_url + "/chat/completions", body, auth)
    assert got["content-type"].startswith("text/event-stream") and b"event:" not in raw
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_openai_responses_stream_items(oai: Sdk) -> None:
    oai.fake.enqueue(Reply(text="Sure", thinking="plan", tool_calls=(CALL,)))
    reasoning: Any = {"summary": "auto"}
    async with oai.client.responses.stream(model="m", input="hi", reasoning=reasoning) as s:
        kinds = [event.type async for event in s]
        final = await s.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    call: Any = final.output[2]
    assert call.call_id == CALL.id and json.loads(call.arguments) == dict(CALL.arguments)
    body = {"model": "m", "input": "hi", "stream": True}
    auth = {"Authorization": f"Bearer {KEY}"}
    _, _, raw = await post(oai.fake.base_url + "/responses", body, auth)
    datas = [json.loads(line[6:]) for line in raw.decode().split("\n") if line.startswith("data: ")]
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    assert b"[DONE]" not in raw


async def test_openai_rejects_unknown_tool_call_id(oai: Sdk) -> None:
    function = {"name": "f", "arguments": "{}"}
    asked: Any = {
        "role": "assistant",
        "tool_calls": [{"id": "call_a", "type": "function", "function": function}],
    }
    answer: Any = {"role": "tool", "tool_call_id": "call_b", "content": "r"}
    create = oai.client.chat.completions.create
    with pytest.raises(openai.BadRequestError, match="'call_b' not found") as caught:
        await create(model="m", messages=[USER[0], asked, answer])
    assert caught.value.param == "messages.[2].tool_call_id"
    with pytest.raises(openai.BadRequestError, match="did not have response messages: call_a"):
        await create(model="m", messages=[USER[0], asked])
    with pytest.raises(openai.BadRequestError, match="must be a response to a preceeding"):
        await create(model="m", messages=[USER[0], answer])
    orphan: Any = [{"type": "function_call_output", "call_id": "call_z", "output": "x"}]
    with pytest.raises(openai.BadRequestError, match="No tool call found"):
        await oai.client.responses.create(model="m", input=orphan)


async def test_openai_lists_models(oai: Sdk) -> None:
    assert "gpt-4o" in [m.id async for m in oai.client.models.list()]


async def test_codex_backend_rules(oai: Sdk) -> None:
    url, auth = oai.fake.codex_base_url + "/responses", {"Authorization": f"Bearer {KEY}"}
    body: dict[str, Any] = {"model": "gpt-5", "input": USER, "stream": True, "store": False}
    oai.fake.codex_legacy = True  # an older backend
    status, _, raw = await post(url, body, auth)
    assert status == 400 and json.loads(raw) == {"detail": "Instructions are required"}
    oai.fake.codex_legacy = False  # today's takes the base prompt as a developer item
    oai.fake.enqueue(Fail(429, retry_after=60))
    status, _, raw = await post(url, body, auth)
    assert status == 429 and json.loads(raw)["error"]["type"] == "usage_limit_reached"
    status, got, raw = await post(url, body, auth)
    assert status == 200 and b"response.completed" in raw
    assert "x-codex-primary-used-percent" in got


# -- Gemini -----------------------------------------------------------------------------


async def test_gemini_stream_thoughts_and_call(gem: Sdk) -> None:
    gem.fake.enqueue(Reply(text="Let me look", thinking="need weather", tool_calls=(CALL,)))
    thinking = genai_types.ThinkingConfig(include_thoughts=True)
    config = genai_types.GenerateContentConfig(thinking_config=thinking)
    stream = await gem.client.aio.models.generate_content_stream(
        model=GEMINI, contents="hi", config=config
    )
    chunks = [c async for c in stream]
    parts: Any = [p for c in chunks for p in c.candidates[0].content.parts]
    assert "".join(p.text for p in parts if p.thought) == "need weather"
    assert "".join(p.text or "" for p in parts if not p.thought) == "Let me look"
    call = next(p for p in parts if p.function_call)
    assert call.function_call.name == CALL.name and call.function_call.args == dict(CALL.arguments)
    assert call.thought_signature
    assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.STOP


async def test_gemini_sse_is_crlf_framed_without_terminator(gem: Sdk) -> None:
    url = gem.fake.base_url + f"/v1beta/models/{GEMINI}:streamGenerateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    status, got, raw = await post(url + "?alt=sse", body, {"x-goog-api-key": KEY})
    assert status == 200 and got["content-type"] == "text/event-stream"
    events = raw.split(b"\r\n\r\n")
    assert events[-1] == b"" and all(e.startswith(b"data: {") for e in events[:-1])
    assert b'"finishReason": "STOP"' in events[-2] and b'"usageMetadata": {' in events[0]
    status, got, raw = await post(url, body, {"x-goog-api-key": KEY})
    assert json.loads(raw)[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_gemini_error_details(gem: Sdk) -> None:
    gem.fake.enqueue(Fail(429, retry_after=7))
    with pytest.raises(genai_errors.ClientError) as caught:
        await gem.ask(False)
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    assert caught.value.status == "RESOURCE_EXHAUSTED"
    assert retry in caught.value.details["error"]["details"]
    wrong = make_sdk("gemini", gem.fake, key="wrong")
    with pytest.raises(genai_errors.ClientError) as caught:
        await wrong.ask(False)
    await close_sdk(wrong)
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    url = gem.fake.base_url + f"/v1beta/models/{GEMINI}:generateContent"
    status, _, raw = await post(url, {"contents": USER})
    assert status == 403 and json.loads(raw)["error"]["status"] == "PERMISSION_DENIED"


async def test_gemini_rejects_ref_in_schema_and_orphan_response(gem: Sdk) -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": "#/$defs/X"}}}
    tools = [{"functionDeclarations": [{"name": "f", "parameters": schema}]}]
    extra = genai_types.HttpOptions(extra_body={"tools": tools})
    config = genai_types.GenerateContentConfig(http_options=extra)
    with pytest.raises(genai_errors.ClientError) as caught:
        await gem.client.aio.models.generate_content(model=GEMINI, contents="hi", config=config)
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == (
        'Invalid JSON payload received. Unknown name "$ref" at'
        " 'tools[0].function_declarations[0].parameters.properties[0].value': Cannot find field."
    )
    part = {"functionResponse": {"name": "f", "response": {}}}
    url = gem.fake.base_url + f"/v1beta/models/{GEMINI}:generateContent"
    status, _, raw = await post(url, {"contents": [{"parts": [part]}]}, {"x-goog-api-key": KEY})
    assert status == 400 and b"function response turn comes immediately after" in raw


async def test_gemini_count_tokens_and_models(gem: Sdk) -> None:
    count = await gem.client.aio.models.count_tokens(model=GEMINI, contents="hello")
    assert count.total_tokens == len(gem.fake.requests[-1].body) // 4
    names = [m.name async for m in await gem.client.aio.models.list()]
    assert f"models/{GEMINI}" in names
