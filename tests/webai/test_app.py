"""The service surface: request validation, the service token, health without backends."""

from __future__ import annotations

import pytest

from suite.config import ConfigError
from webai import ChatRequest, Message, load_settings, parse_chat_request

from .conftest import StartWebAI, webai_config


async def test_service_token_is_required_when_set(start_webai: StartWebAI, tmp_path) -> None:
    webai = await start_webai(webai_config(tmp_path, fallback=("Answers",), token="svc-secret-1"))
    hi = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert (await webai.post(hi))[0] == 401
    assert (await webai.post(hi, {"Authorization": "Bearer wrong"}))[0] == 401
    assert (await webai.post(hi, {"Authorization": "Bearer svc-secret-1"}))[0] == 200
    assert (await webai.get("/healthz"))[0] == 200  # health stays open for the probes


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "'model' is required"),
        ({"model": "m", "messages": []}, "'messages' is required"),
        ({"model": "m", "messages": [{"role": "pirate", "content": "x"}]}, "unknown role"),
        ({"model": "m", "messages": [{"role": "system", "content": "x"}]}, "no text to answer"),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
            "max_tokens",
        ),
    ],
)
async def test_bad_requests_are_400(start_webai: StartWebAI, tmp_path, body, words) -> None:
    webai = await start_webai(webai_config(tmp_path, fallback=("Answers",)))
    status, data, _ = await webai.post(body)
    assert status == 400
    assert words in data["error"]["message"]
    assert data["error"]["type"] == "invalid_request_error"


async def test_no_backend_is_unhealthy(start_webai: StartWebAI, tmp_path) -> None:
    webai = await start_webai(webai_config(tmp_path))
    status, health = await webai.get("/healthz")
    assert status == 503 and "no backend configured" in health["detail"]
    status, data, _ = await webai.post(
        {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    )
    assert status == 502


def test_prompt_flattening_and_chat_messages() -> None:
    req = parse_chat_request(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Look"}, {"type": "image_url"}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"function": {"name": "get", "arguments": '{"a":1}'}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
        }
    )
    assert req.prompt() == (
        "System:\nBe brief.\n\n"
        "User:\nLook\n[image_url omitted: this service takes text only]\n\n"
        'Assistant:\n[called tool get({"a":1})]\n\n'
        "Tool result:\n(c1) 42"
    )
    assert req.chat_messages()[-1] == {"role": "user", "content": "Tool result:\n(c1) 42"}
    assert ChatRequest("m", (Message("user", "hi"),)).prompt() == "hi"


def test_settings_errors_name_the_key(tmp_path) -> None:
    config = webai_config(tmp_path)
    config.providers["webai"].options["url"] = "http://0.0.0.0:8406"
    with pytest.raises(ConfigError, match=r"providers\.webai\.url: webai listens on loopback only"):
        load_settings(config)
    config.providers["webai"].options["url"] = "http://127.0.0.1:8406"
    config.providers["webai"].options["gemini"]["refresh"] = 5
    with pytest.raises(ConfigError, match=r"providers\.webai\.gemini\.refresh: unknown key"):
        load_settings(config)
