"""``codex-oauth`` through the SDKs: the ChatGPT backend's rules, streaming always.

Field-by-field comparisons with the captured Codex requests are in
``test_codex_profile.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import anthropic
import openai
import orjson
import pytest

from router.executors._codex import codex_body, legacy_body
from tests.fakes import FailAfter, FakeOpenAI, Reply
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    codex_record,
    config,
    provider_configs,
    write_cliproxy_file,
)


async def _router(start_router, tmp: Path, oauth: FakeOAuth, api: FakeOpenAI):
    api.api_keys = oauth.access
    rec = codex_record(oauth, time.time() + 3600)
    write_cliproxy_file(tmp / "auth", rec)
    cfg = config(
        provider_configs(codex=oauth, openai=api), {"dir": str(tmp / "auth")}, api_keys=[CLIENT_KEY]
    )
    return await start_router(cfg), rec


async def test_responses_sdk_plain_and_stream(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.default = Reply(text="from chatgpt")
        r, rec = await _router(start_router, tmp_path, oauth, api)
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            plain = await client.responses.create(
                model="gpt-5",
                input="hi",
                instructions="Be terse.",
                max_output_tokens=50,
                temperature=0.2,
            )
            stream = await client.responses.create(model="gpt-5", input="hi", stream=True)
            kinds = [ev.type async for ev in stream]
    assert plain.output_text == "from chatgpt"
    assert plain.usage is not None and plain.usage.output_tokens > 0
    assert kinds[-1] == "response.completed"
    sent = api.requests[0]
    assert sent.path == "/backend-api/codex/responses"
    assert sent.headers["Authorization"] == f"Bearer {rec.data['access_token']}"
    assert sent.headers["chatgpt-account-id"] == oauth.account_id
    assert sent.headers["originator"] == "codex_exec" and "OpenAI-Beta" not in sent.headers
    assert sent.headers["version"] == "0.171.0"
    assert sent.headers["Accept"] == "text/event-stream"
    body = sent.json
    assert sent.headers["session-id"] == body["prompt_cache_key"]
    assert body["stream"] is True and body["store"] is False and "instructions" not in body
    assert body["input"][0] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "Be terse."}],
    }
    assert "max_output_tokens" not in body and "temperature" not in body
    assert "reasoning.encrypted_content" in body["include"]


async def test_anthropic_client_system_becomes_a_developer_item(
    start_router, tmp_path: Path
) -> None:
    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.default = Reply(text="translated to codex")
        r, _ = await _router(start_router, tmp_path, oauth, api)
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            msg = await client.messages.create(
                model="gpt-5",
                max_tokens=64,
                system="You are a pirate.",
                messages=[{"role": "user", "content": "hi"}],
            )
            async with client.messages.stream(
                model="gpt-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
            ) as s:
                streamed = "".join([t async for t in s.text_stream])
    assert msg.content[0].text == "translated to codex" and streamed == "translated to codex"
    first, second = api.requests[0].json, api.requests[1].json
    assert "instructions" not in first and "instructions" not in second
    assert first["input"][0]["role"] == "developer"
    assert first["input"][0]["content"][0]["text"] == "You are a pirate."
    assert [i["role"] for i in second["input"]] == ["user"]  # nothing added when none given


async def test_stream_without_completed_is_an_error_for_plain_clients(
    start_router, tmp_path: Path
) -> None:
    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.enqueue(FailAfter(chunks=3, status=500))
        r, _ = await _router(start_router, tmp_path, oauth, api)
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            with pytest.raises(openai.APIStatusError) as err:
                await client.responses.create(model="gpt-5", input="hi")
    assert err.value.status_code >= 500


def _raw() -> dict:
    return orjson.loads(
        orjson.dumps(
            {
                "model": "x",
                "input": [
                    {"role": "system", "content": "S1"},
                    {"role": "developer", "content": "D"},
                    {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                ],
                "previous_response_id": "resp_1",
                "stream": False,
                "store": True,
            }
        )
    )


def test_codex_body_makes_system_items_developer_ones_and_strips_unsupported() -> None:
    body = codex_body(_raw(), "gpt-5")
    assert "instructions" not in body
    assert [i["role"] for i in body["input"]] == ["developer", "developer", "user"]
    assert body["stream"] is True and body["store"] is False and body["model"] == "gpt-5"
    assert "previous_response_id" not in body
    legacy = legacy_body(_raw(), "gpt-5", "default")
    assert legacy["instructions"] == "S1"
    assert [i["role"] for i in legacy["input"]] == ["developer", "user"]


async def test_an_older_backend_gets_instructions_after_its_400(
    start_router, tmp_path: Path
) -> None:
    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.codex_legacy = True
        r, _ = await _router(start_router, tmp_path, oauth, api)
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            first = await client.responses.create(model="gpt-5", input="hi", instructions="Hm.")
            second = await client.responses.create(model="gpt-5", input="hi again")
    assert first.output_text and second.output_text
    # The refused shape once, then the old one, and the old one at once from then on.
    assert [("instructions" in rq.json) for rq in api.requests] == [False, True, True]
    assert api.requests[1].json["instructions"] == "Hm."
    assert api.requests[2].json["instructions"] == "You are a helpful assistant."
