"""Client input that used to end in a 500 now gets a 400 in the client's own format.

Each case is sent the way a client would: with the official SDK when it can
send the value (the SDKs type their parameters, but pass dicts and numbers
through), raw HTTP when it cannot. The router sits in front of validating
fakes on loopback, so a request that is fine reaches an upstream and a bad
one must be stopped, with a message naming the field, before it does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from router.api._context import RequestContext
from router.api._proxy import _upstream_error_response
from router.errors import UpstreamError
from router.formats import Format
from suite.config import parse_config
from tests.conftest import RunningRouter, StartRouter, private_usage
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI

KEY = "sk-bad-input-client"
MANAGEMENT_KEY = "mgmt-bad-input-0123456789"


@dataclass
class Stack:
    router: RunningRouter
    anthropic: FakeAnthropic
    openai: FakeOpenAI
    gemini: FakeGemini

    def chat(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.router.url}/v1", api_key=KEY, max_retries=0)

    def claude(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=self.router.url, api_key=KEY, max_retries=0)

    async def post(self, path: str, body: bytes, **headers: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.post(
                self.router.url + path,
                content=body,
                headers={"x-goog-api-key": KEY, "Content-Type": "application/json", **headers},
            )


@pytest.fixture
async def stack(start_router: StartRouter) -> AsyncIterator[Stack]:
    async with FakeAnthropic() as a, FakeOpenAI() as o, FakeGemini() as g:
        raw = {
            "server": {"api_keys": [KEY], "timeouts": {"connect": 2, "first_byte": 10, "idle": 10}},
            "management": {"key": MANAGEMENT_KEY},
            "providers": {
                "a": {"kind": "anthropic", "base_url": a.base_url, "api_keys": ["ka"]},
                "o": {"kind": "openai-compatible", "base_url": o.base_url, "api_keys": ["ko"]},
                "r": {
                    "kind": "openai-compatible",
                    "base_url": o.base_url,
                    "api_keys": ["ko"],
                    "wire": "responses",
                },
                "g": {"kind": "gemini", "base_url": g.base_url, "api_keys": ["kg"]},
            },
            "models": {
                "routing": [
                    {"pattern": "^alias-chat$", "providers": ["o"], "model": "gpt-4o"},
                    {"pattern": "^alias-claude$", "providers": ["a"], "model": "claude-sonnet-4-5"},
                    {"pattern": "^claude", "providers": ["a"]},
                    {"pattern": "^gpt", "providers": ["o"]},
                    {"pattern": "^resp", "providers": ["r"]},
                    {"pattern": "^gemini", "providers": ["g"]},
                    {"pattern": "^text-embedding-3", "providers": ["o"]},
                ]
            },
        }
        router = await start_router(private_usage(parse_config(raw, environ={})))
        yield Stack(router, a, o, g)


def deep(levels: int, leaf: Any = 1) -> Any:
    """``{"a": {"a": ... leaf}}``, ``levels`` objects deep."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def _dumps(body: Any) -> bytes:
    """JSON of any depth (orjson writes at most 254 levels)."""
    return json.dumps(body, separators=(",", ":")).encode()


def openai_error(exc: openai.APIStatusError, field: str) -> dict[str, Any]:
    assert exc.status_code == 400, exc.response.text
    err = exc.response.json()["error"]
    assert err["type"] == "invalid_request_error", err
    assert field in err["message"], err
    return dict(err)


def anthropic_error(exc: anthropic.APIStatusError, field: str) -> dict[str, Any]:
    assert exc.status_code == 400, exc.response.text
    body = exc.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error", body
    assert field in body["error"]["message"], body
    return dict(body["error"])


def gemini_error(resp: httpx.Response, field: str) -> dict[str, Any]:
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT", err
    assert field in err["message"], err
    return dict(err)


HI = [{"role": "user", "content": "hi"}]


# -- types the handlers compared without checking ------------------------------------


async def test_a_chat_role_that_is_an_object(stack: Stack) -> None:
    """``role`` was looked up in a set: a dict is unhashable, a TypeError, a 500."""
    async with stack.chat() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": {}, "content": "hi"}]
            )
    err = openai_error(caught.value, "messages[0].role")
    assert err["param"] == "messages[0].role"
    assert not stack.openai.requests


async def test_a_gemini_function_response_with_parts_true(stack: Stack) -> None:
    """``functionResponse.parts: true`` was iterated: a TypeError on the translated path.
    (google-genai types ``parts`` as a list, so it cannot send this.)"""
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "f", "response": {}, "parts": True}}],
            },
        ]
    }
    resp = await stack.post("/v1beta/models/claude-sonnet-4-5:generateContent", orjson.dumps(body))
    gemini_error(resp, "contents[2].parts[0].functionResponse.parts")
    assert not stack.anthropic.requests


async def test_a_gemini_embedding_task_type_that_is_a_list(stack: Stack) -> None:
    """``taskType: []`` was looked up in a set of task names: unhashable, a 500 (found by
    the fuzzer). google-genai types it as a string, so raw HTTP."""
    body = {"content": {"parts": [{"text": "hi"}]}, "taskType": []}
    resp = await stack.post(
        "/v1beta/models/text-embedding-3-small:embedContent", orjson.dumps(body)
    )
    gemini_error(resp, "taskType")
    assert not stack.openai.requests


# -- numbers out of range --------------------------------------------------------------


async def test_max_tokens_1e20_from_an_openai_client_to_anthropic(stack: Stack) -> None:
    """1e20 became int(1e20), which no JSON encoder of the upstream body takes."""
    async with stack.chat() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="claude-sonnet-4-5",
                messages=HI,
                max_tokens=1e20,  # the SDK sends the number as given
            )
    assert openai_error(caught.value, "max_tokens")["param"] == "max_tokens"
    assert not stack.anthropic.requests


async def test_max_output_tokens_1e20_from_a_responses_client_to_gemini(stack: Stack) -> None:
    async with stack.chat() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(
                model="gemini-2.5-flash",
                input="hi",
                max_output_tokens=1e20,  # the SDK sends the number as given
            )
    openai_error(caught.value, "max_output_tokens")
    assert not stack.gemini.requests


async def test_top_k_1e20_from_an_anthropic_client_to_gemini(stack: Stack) -> None:
    async with stack.claude() as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.messages.create(
                model="gemini-2.5-flash",
                max_tokens=100,
                messages=HI,
                extra_body={"top_k": 1e20},  # this SDK version has no top_k argument
            )
    anthropic_error(caught.value, "top_k")
    assert not stack.gemini.requests


async def test_max_output_tokens_1e20_from_a_gemini_client_to_anthropic(stack: Stack) -> None:
    """google-genai validates ``max_output_tokens`` as an int, so raw HTTP."""
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {"maxOutputTokens": 1e20},
    }
    resp = await stack.post("/v1beta/models/claude-sonnet-4-5:generateContent", orjson.dumps(body))
    gemini_error(resp, "generationConfig.maxOutputTokens")
    assert not stack.anthropic.requests


async def test_a_huge_top_p_stays_a_float(stack: Stack) -> None:
    """``top_p: 1e300`` was rendered as the integer it equals (to write ``1`` for ``1.0``),
    which the JSON encoder refused: a 500. Now the upstream sees the number and judges it."""
    async with stack.chat() as client:
        answer = await client.chat.completions.create(
            model="gemini-2.5-flash", messages=HI, top_p=1e300
        )
    assert answer.choices[0].message.content
    assert stack.gemini.requests[-1].json["generationConfig"]["topP"] == 1e300


# -- nesting ---------------------------------------------------------------------------


async def test_300_deep_tool_parameters_on_a_translated_path(stack: Stack) -> None:
    tools: Any = [{"type": "function", "function": {"name": "f", "parameters": deep(300)}}]
    async with stack.chat() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="claude-sonnet-4-5", messages=HI, tools=tools
            )
    err = openai_error(caught.value, "tools[0].function.parameters.a.a")
    assert err["param"] == "tools" and "128 levels" in err["message"]
    assert not stack.anthropic.requests


async def test_a_deep_field_the_router_writes_again(stack: Stack) -> None:
    """A body the router must serialize again (an alias whose ``model`` is neither the
    first key nor after every container, so no splice) is parsed whole and checked: the
    encoder stopped at 255 levels; the limit says 128, naming the field."""
    chat = _dumps({"messages": HI, "model": "alias-chat", "extra": deep(300)})
    resp = await stack.post("/v1/chat/completions", chat, authorization=f"Bearer {KEY}")
    assert resp.status_code == 400, resp.text
    assert "extra.a.a" in resp.json()["error"]["message"]
    claude = _dumps(
        {"max_tokens": 10, "messages": HI, "model": "alias-claude", "metadata": deep(300)}
    )
    resp = await stack.post("/v1/messages", claude, **{"x-api-key": KEY})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert "metadata.a.a" in resp.json()["error"]["message"]
    assert not stack.openai.requests and not stack.anthropic.requests


async def test_a_deep_field_relayed_as_sent_goes_as_sent(stack: Stack) -> None:
    """A body relayed as sent (the alias spliced into its first key) is checked as JSON
    but never built, walked or written again by the router: its nesting is the
    upstream's to judge (docs/performance.md), and every byte but the model's arrives."""
    raw = _dumps({"model": "alias-chat", "messages": HI, "extra": deep(300)})
    resp = await stack.post("/v1/chat/completions", raw, authorization=f"Bearer {KEY}")
    assert resp.status_code == 200, resp.text
    assert stack.openai.requests[-1].body == raw.replace(b'"alias-chat"', b'"gpt-4o"')


async def test_nesting_at_the_limit_passes_one_more_does_not(stack: Stack) -> None:
    """128 levels (the body is the first) are translated; 129 are not, before any upstream."""
    async with stack.chat() as client:
        answer = await client.chat.completions.create(
            model="claude-sonnet-4-5", messages=HI, extra_body={"metadata": deep(127)}
        )
        assert answer.choices[0].message.content
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="claude-sonnet-4-5", messages=HI, extra_body={"metadata": deep(128)}
            )
    err = openai_error(caught.value, "metadata.a.a.a.a.a.a.a…")
    assert err["param"] == "metadata"
    assert len(stack.anthropic.requests) == 1


# -- JSON Schema $ref inlining for Gemini ----------------------------------------------


def _fan_out(levels: int) -> dict[str, Any]:
    """Each definition refers twice to the next: 2**levels nodes once inlined."""
    defs: dict[str, Any] = {
        f"d{i}": {
            "type": "object",
            "properties": {
                "x": {"$ref": f"#/$defs/d{i + 1}"},
                "y": {"$ref": f"#/$defs/d{i + 1}"},
            },
        }
        for i in range(levels)
    }
    defs[f"d{levels}"] = {"type": "string"}
    return {"type": "object", "$defs": defs, "properties": {"a": {"$ref": "#/$defs/d0"}}}


async def test_a_ref_fan_out_is_capped(stack: Stack) -> None:
    """Inlined for Gemini, 17 levels were 7.6 MB sent upstream after 1.7 s with the event
    loop blocked (each level doubles both). The cap holds what refs may add."""
    tools: Any = [{"type": "function", "function": {"name": "f", "parameters": _fan_out(17)}}]
    async with stack.chat() as client:
        answer = await client.chat.completions.create(
            model="gemini-2.5-flash", messages=HI, tools=tools
        )
    assert answer.choices[0].message.content is not None
    sent = stack.gemini.requests[-1].body
    assert len(sent) < 1_000_000, len(sent)


async def test_a_self_reference_through_all_of(stack: Stack) -> None:
    """``allOf: [{$ref: "#"}]`` recursed without end (a RecursionError, a 500)."""
    schema = {"type": "object", "allOf": [{"$ref": "#"}], "properties": {"a": {"type": "string"}}}
    tools: Any = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    async with stack.chat() as client:
        answer = await client.chat.completions.create(
            model="gemini-2.5-flash", messages=HI, tools=tools
        )
    assert answer.choices[0].message.content is not None
    assert stack.gemini.requests[-1].json["tools"][0]["functionDeclarations"][0]["name"] == "f"


# -- /v1/usage -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=nan", "from"), ("to=9999-12-31", "to"), ("from=inf", "from"), ("to=-1e300", "to")],
)
async def test_usage_instants_out_of_range(stack: Stack, query: str, field: str) -> None:
    """``nan`` passed ``from < to`` and broke the date rendering; the end of 9999-12-31
    overflowed the calendar: both were 500s."""
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(
            f"{stack.router.url}/v1/usage?{query}",
            headers={"Authorization": f"Bearer {MANAGEMENT_KEY}"},
        )
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == field
    assert err["message"].startswith(f"{field}:")


# -- the proxy's own checks ------------------------------------------------------------


@pytest.mark.parametrize("source", [Format.OPENAI, Format.ANTHROPIC])
def test_a_non_retryable_error_without_an_upstream_body(source: Format) -> None:
    """The answer for a non-retryable failure was guarded by ``assert isinstance(exc,
    UpstreamHTTPError)``: gone under ``python -O``, and an AssertionError otherwise."""
    exc = UpstreamError("the upstream refused the request for good")
    exc.retryable = False
    ctx = RequestContext(request_id="rid-1", fmt=Format.OPENAI, started=0.0)
    resp = _upstream_error_response(Format.OPENAI, source, exc, ctx)
    assert resp.status == 502
    assert resp.body is not None
    err = orjson.loads(resp.body)["error"]  # type: ignore[arg-type]
    assert err["message"] == "the upstream refused the request for good"
    assert ctx.error == exc.message
