"""The Gemini web backend against a local fake of gemini.google.com.

gemini-webapi runs unmodified: its curl session reaches the fake through its
own ``proxy`` setting and verifies the fake's TLS certificate against a test
CA (``ca_bundle``), so what is tested is the library's real sign-in, RPC,
streaming-frame and cookie-rotation code on the real wire format.
"""

from __future__ import annotations

import json
import logging
import stat

import orjson
import pytest
import structlog
from structlog.testing import capture_logs

from tests.fakes import Reply
from tests.fakes.gemini_web import IP_BLOCKED, USAGE_LIMIT, FakeGeminiWeb, WebError, WebErrorAfter
from webai import GeminiWebBackend, forward_library_logs

from .conftest import StartWebAI, sse_events, webai_config

HI = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def _backend(running: object) -> GeminiWebBackend:
    from webai import SERVICE

    backend = running.app[SERVICE].backends[0]  # type: ignore[attr-defined]
    assert isinstance(backend, GeminiWebBackend)
    return backend


async def test_non_stream_answer_through_the_real_library(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    gemini_web.enqueue(Reply(text="Paris is the capital.", thinking="Geography."))
    webai = await start_webai(webai_config(tmp_path, gemini_web))
    status, body, _ = await webai.post(HI)
    assert status == 200, body
    msg = body["choices"][0]["message"]
    assert msg["content"] == "Paris is the capital."
    assert msg["reasoning_content"] == "Geography."
    assert body["model"] == "gemini-2.5-flash"
    # The library resolved the name against the account's model list and sent its id.
    assert gemini_web.model_ids == ["fbb127bbb056c959"]
    assert gemini_web.prompts == ["hi"]
    # Every connection went through the loopback front: nothing else was contacted.
    assert {c.split(":")[0] for c in gemini_web.connects} <= {"gemini.google.com"}


async def test_stream_is_relayed_piece_by_piece(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    gemini_web.enqueue(Reply(text="one two three four"))
    webai = await start_webai(webai_config(tmp_path, gemini_web))
    status, _, text = await webai.post({**HI, "stream": True})
    assert status == 200
    events = sse_events(text)
    assert events[-1] == "[DONE]"
    pieces = [e["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert pieces[0] == "one " and events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(p for p in pieces if p) == "one two three four"
    assert len([p for p in pieces if p]) == 4
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


async def test_conversation_is_flattened_system_first(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    webai = await start_webai(webai_config(tmp_path, gemini_web))
    messages = [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "system", "content": "Answer tersely."},
        {"role": "user", "content": [{"type": "text", "text": "And 3+3?"}]},
    ]
    status, _, _ = await webai.post({"model": "gemini", "messages": messages})
    assert status == 200
    assert gemini_web.prompts == [
        "System:\nAnswer tersely.\n\nUser:\nWhat is 2+2?\n\nAssistant:\n4\n\nUser:\nAnd 3+3?"
    ]
    assert gemini_web.model_ids == [None]  # "gemini": the account's default model


@pytest.mark.parametrize(
    ("behaviour", "status", "kind"),
    [
        (WebError(USAGE_LIMIT), 429, "rate_limit_error"),
        (WebError(IP_BLOCKED), 429, "rate_limit_error"),
    ],
)
async def test_in_band_errors_are_mapped(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path, behaviour, status, kind
) -> None:
    gemini_web.enqueue(behaviour)
    webai = await start_webai(webai_config(tmp_path, gemini_web))
    got, body, _ = await webai.post(HI)
    assert got == status, body
    assert body["error"]["type"] == kind
    assert body["error"]["message"].startswith("gemini-web: ")
    # A rate limit says nothing about the cookies: still healthy.
    assert (await webai.health_settled())[0] == 200


async def test_unknown_model_is_404(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    webai = await start_webai(webai_config(tmp_path, gemini_web))
    status, body, _ = await webai.post({**HI, "model": "gemini-9-ultra"})
    assert status == 404
    assert body["error"]["code"] == "model_not_found"
    assert "gemini-2.5-flash" in body["error"]["message"]  # what the account does have
    assert gemini_web.prompts == []


async def test_error_after_the_first_chunk_is_an_error_event(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    gemini_web.enqueue(WebErrorAfter(2, USAGE_LIMIT, Reply(text="a b c d")))
    webai = await start_webai(webai_config(tmp_path, gemini_web))
    status, _, text = await webai.post({**HI, "stream": True})
    assert status == 200
    events = sse_events(text)
    assert "[DONE]" not in events
    assert [e["choices"][0]["delta"].get("content") for e in events[:2]] == ["a ", "b "]
    assert events[-1]["error"]["type"] == "rate_limit_error"


async def test_models_and_health_when_signed_in(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    webai = await start_webai(webai_config(tmp_path, gemini_web))
    status, health = await webai.health_settled()
    assert status == 200 and health["status"] == "ok"
    assert health["backends"][0] | {"detail": ""} == {
        "name": "gemini-web",
        "state": "ready",
        "ready": True,
        "healthy": True,
        "detail": "",
        "cookies": "valid",
    }
    _, models = await webai.get("/v1/models")
    assert [m["id"] for m in models["data"]] == [
        "gemini-2.5-flash",
        "gemini-fast",
        "gemini-2.5-pro",
        "gemini-pro",
    ]


async def test_bad_cookies_are_401_and_unhealthy(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    bad = {"__Secure-1PSID": "g.a000expired-session-77", "__Secure-1PSIDTS": "sidts-expired-9999"}
    webai = await start_webai(webai_config(tmp_path, gemini_web, cookies=bad))
    status, health = await webai.health_settled()
    assert status == 503 and health["status"] == "unhealthy"
    assert health["backends"][0]["cookies"] == "need renewing"
    assert "cookies need renewing" in health["detail"]
    got, body, _ = await webai.post(HI)
    assert got == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert "__Secure-1PSID" in body["error"]["message"]
    # Signed out, Google would still answer as a guest: webai never does.
    assert gemini_web.prompts == []
    for text in (json.dumps(health), json.dumps(body)):
        assert "g.a000expired" not in text and "sidts-expired" not in text


async def test_missing_cookies_are_unhealthy_with_a_readable_line(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    webai = await start_webai(webai_config(tmp_path, gemini_web, cookies={}))
    status, health = await webai.health_settled()
    assert status == 503
    assert health["backends"][0]["cookies"] == "missing"
    assert "webai-default.json" in health["detail"]
    assert gemini_web.requests == []  # nothing to sign in with: Google is not asked


async def test_rotation_by_refresh_is_written_back(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    from gemini_webapi.utils import rotate_1psidts

    webai = await start_webai(webai_config(tmp_path, gemini_web))
    await webai.health_settled()
    backend = _backend(webai)
    file = tmp_path / "auth" / "webai-default.json"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    before = json.loads(file.read_text())["cookies"]["__Secure-1PSIDTS"]
    # What the library's auto-refresh does every refresh_interval (60 s at least):
    new = await rotate_1psidts(backend.client.client)
    assert new == gemini_web.account.psidts != before
    assert backend.sync_cookies() is True
    saved = json.loads(file.read_text())
    assert saved["cookies"] == {
        "__Secure-1PSID": gemini_web.account.psid,
        "__Secure-1PSIDTS": new,
    }
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    assert not list(file.parent.glob(".webai-default.json.*"))  # no temp file left behind


async def test_rotation_in_an_answer_is_saved_after_the_request(
    start_webai: StartWebAI, tmp_path
) -> None:
    async with FakeGeminiWeb(rotate_on_generate=True) as fake:
        webai = await start_webai(
            webai_config(tmp_path, fake, gemini={"cookie_sync_seconds": 3600})
        )
        assert (await webai.post(HI))[0] == 200
        saved = json.loads((tmp_path / "auth" / "webai-default.json").read_text())
        assert saved["cookies"]["__Secure-1PSIDTS"] == fake.account.psidts
        assert fake.account.rotations == 1


async def test_cookie_file_wins_over_stale_config_for_the_same_account(
    start_webai: StartWebAI, gemini_web: FakeGeminiWeb, tmp_path
) -> None:
    stale = gemini_web.account.psidts
    fresh = gemini_web.rotate()  # rotated by an earlier run, which saved it
    file = tmp_path / "auth" / "webai-default.json"
    file.parent.mkdir(mode=0o700)
    file.write_text(
        json.dumps({"__Secure-1PSID": gemini_web.account.psid, "__Secure-1PSIDTS": fresh})
    )
    file.chmod(0o644)
    cookies = {"__Secure-1PSID": gemini_web.account.psid, "__Secure-1PSIDTS": stale}
    webai = await start_webai(webai_config(tmp_path, gemini_web, cookies=cookies))
    assert (await webai.post(HI))[0] == 200
    assert stat.S_IMODE(file.stat().st_mode) == 0o600  # tightened


async def test_no_cookie_value_reaches_the_logs(
    start_webai: StartWebAI, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    psid, psidts = "g.a000secretsession0123456789", "sidts-secretstamp0123456789"
    async with FakeGeminiWeb(psid, psidts, rotate_on_generate=True) as fake:
        fake.enqueue(WebError(USAGE_LIMIT))
        with capture_logs() as logs:
            webai = await start_webai(webai_config(tmp_path, fake))
            from webai import SECRETS

            undo = forward_library_logs(webai.app[SECRETS], level="DEBUG")
            try:
                await webai.post(HI)
                await webai.post(HI)
                await webai.get("/healthz")
            finally:
                undo()
        new = fake.account.psidts
    text = orjson.dumps(logs, default=str).decode() + caplog.text
    assert any(e.get("library") == "gemini_webapi" for e in logs)  # the library's lines came in
    for secret in (psid, psidts, new):
        assert secret not in text
    assert structlog.is_configured() or logging.getLogger().handlers is not None
