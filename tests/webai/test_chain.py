"""The g4f fallback chain, with local providers built on g4f's ``AsyncGeneratorProvider``."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from suite.config import ConfigError
from tests.fakes import Reply
from tests.fakes.gemini_web import USAGE_LIMIT, FakeGeminiWeb, WebError
from webai import build_backends, load_settings

from .conftest import StartWebAI, sse_events, webai_config
from .providers import Answers, Broken, Hangs, Silent, Trickles

HI = {"model": "some-model", "messages": [{"role": "user", "content": "hi"}]}


async def test_first_fails_second_answers(start_webai: StartWebAI, tmp_path) -> None:
    webai = await start_webai(webai_config(tmp_path, fallback=("Broken", "Answers")))
    status, body, _ = await webai.post({**HI, "temperature": 0.2})
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "Fallback says hello"
    assert body["choices"][0]["message"]["reasoning_content"] == "thinking it over"
    assert (Broken.calls, Answers.calls) == (1, 1)
    assert Answers.last["model"] == "some-model"
    assert Answers.last["temperature"] == 0.2
    assert Answers.last["messages"] == [{"role": "user", "content": "hi"}]


async def test_first_fails_second_answers_streaming(start_webai: StartWebAI, tmp_path) -> None:
    webai = await start_webai(webai_config(tmp_path, fallback=("Silent", "Broken", "Answers")))
    status, _, text = await webai.post({**HI, "stream": True})
    assert status == 200
    events = sse_events(text)
    assert events[-1] == "[DONE]"
    deltas = [e["choices"][0]["delta"] for e in events[:-1]]
    assert deltas[0] == {"role": "assistant", "reasoning_content": "thinking it over"}
    assert "".join(d.get("content", "") for d in deltas) == "Fallback says hello"
    assert (Silent.calls, Broken.calls, Answers.calls) == (1, 1, 1)


async def test_all_fail_is_502_listing_each_backend(start_webai: StartWebAI, tmp_path) -> None:
    webai = await start_webai(webai_config(tmp_path, fallback=("Broken", "NeedsKey")))
    status, body, _ = await webai.post(HI)
    assert status == 502
    lines = body["error"]["message"].splitlines()
    assert lines == [
        "every backend failed:",
        "g4f:Broken: 502 RuntimeError: upstream page layout changed",
        "g4f:NeedsKey: 401 MissingAuthError: Add a api_key (secret [redacted])",
    ]
    assert "sk-0123456789abcdef0123" not in body["error"]["message"]


async def test_all_rate_limited_is_429(start_webai: StartWebAI, tmp_path) -> None:
    async with FakeGeminiWeb() as fake:
        fake.enqueue(WebError(USAGE_LIMIT))
        webai = await start_webai(webai_config(tmp_path, fake, fallback=("Limited",)))
        status, body, _ = await webai.post({**HI, "model": "gemini-2.5-flash"})
    assert status == 429  # every backend said "rate limited": the router cools the key down
    assert [line.split(":")[0] for line in body["error"]["message"].splitlines()[1:]] == [
        "gemini-web",
        "g4f",
    ]


async def test_failure_after_first_chunk_is_an_error_event_and_no_switch(
    start_webai: StartWebAI, tmp_path
) -> None:
    webai = await start_webai(webai_config(tmp_path, fallback=("DiesMidway", "Answers")))
    status, _, text = await webai.post({**HI, "stream": True})
    assert status == 200
    events = sse_events(text)
    content = "".join(e["choices"][0]["delta"].get("content", "") for e in events if "choices" in e)
    assert content == "Half an answer"
    assert events[-1]["error"]["message"].startswith("g4f:DiesMidway: ")
    assert "[DONE]" not in events
    assert Answers.calls == 0  # no switching once the client has seen text


async def test_failure_after_first_chunk_non_stream_is_an_error(
    start_webai: StartWebAI, tmp_path
) -> None:
    webai = await start_webai(webai_config(tmp_path, fallback=("DiesMidway", "Answers")))
    status, body, _ = await webai.post(HI)
    assert status == 502
    assert "peer reset the connection" in body["error"]["message"]
    assert Answers.calls == 0


async def test_gemini_first_then_g4f(start_webai: StartWebAI, tmp_path) -> None:
    async with FakeGeminiWeb() as fake:
        fake.enqueue(Reply(text="from gemini"), WebError(USAGE_LIMIT))
        webai = await start_webai(webai_config(tmp_path, fake, fallback=("Answers",)))
        first = await webai.post({**HI, "model": "gemini-2.5-pro"})
        second = await webai.post({**HI, "model": "gemini-2.5-pro"})
    assert first[1]["choices"][0]["message"]["content"] == "from gemini"
    assert second[1]["choices"][0]["message"]["content"] == "Fallback says hello"
    assert Answers.last["model"] == "gemini-2.5-pro"


async def test_fallback_model_override_and_models_list(start_webai: StartWebAI, tmp_path) -> None:
    config = webai_config(tmp_path, fallback=("Answers",))
    config.providers["webai"].options["fallback"][0]["model"] = "gpt-4o-mini"
    webai = await start_webai(config)
    await webai.post(HI)
    assert Answers.last["model"] == "gpt-4o-mini"
    _, models = await webai.get("/v1/models")
    assert [m["id"] for m in models["data"]] == ["gpt-4o-mini"]


def test_unknown_provider_is_a_config_error(tmp_path) -> None:
    settings = load_settings(webai_config(tmp_path, fallback=("NoSuchThing",)))
    with pytest.raises(ConfigError, match=r"providers\.webai\.fallback\[0\]\.provider"):
        build_backends(settings, __import__("webai").Secrets())


def test_g4f_provider_by_name_resolves(tmp_path) -> None:
    from g4f.providers.base_provider import AsyncGeneratorProvider

    from webai import resolve_provider

    assert issubclass(resolve_provider("PollinationsAI"), AsyncGeneratorProvider)
    with pytest.raises(ValueError, match="no provider named"):
        resolve_provider("DefinitelyNotAProvider")
    with pytest.raises(ValueError, match="not a g4f provider"):
        resolve_provider("tests.webai.conftest:webai_config")


async def test_no_first_byte_in_time_moves_on(start_webai: StartWebAI, tmp_path) -> None:
    timeouts = {"first_byte": 0.3, "idle": 5, "total": 30}
    webai = await start_webai(
        webai_config(tmp_path, fallback=("Hangs", "Answers"), timeouts=timeouts)
    )
    status, body, _ = await webai.post(HI)
    assert status == 200 and body["choices"][0]["message"]["content"] == "Fallback says hello"
    assert Hangs.calls == 1


async def test_silence_mid_answer_ends_the_stream(start_webai: StartWebAI, tmp_path) -> None:
    timeouts = {"first_byte": 5, "idle": 0.3, "total": 30}
    webai = await start_webai(
        webai_config(tmp_path, fallback=("StallsMidway", "Answers"), timeouts=timeouts)
    )
    status, _, text = await webai.post({**HI, "stream": True})
    events = sse_events(text)
    assert status == 200
    assert events[0]["choices"][0]["delta"]["content"] == "Started "
    assert events[-1]["error"]["code"] == "timeout"
    assert Answers.calls == 0


async def test_client_going_away_stops_the_backend(start_webai: StartWebAI, tmp_path) -> None:
    webai = await start_webai(webai_config(tmp_path, fallback=("Trickles",)))
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{webai.url}/v1/chat/completions", json={**HI, "stream": True}
        ) as resp:
            assert resp.status == 200
            await resp.content.readline()
    assert Trickles.closed is not None
    await asyncio.wait_for(Trickles.closed.wait(), 5)  # stopped long before its 500 words
