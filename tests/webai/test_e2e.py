"""End to end: client SDK → router → webai → Gemini web (the local fake), on loopback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anthropic
import openai

from router.api import STATE
from suite.config import Config
from tests.conftest import StartRouter
from tests.fakes import FakeOpenAI, Reply
from tests.fakes.gemini_web import FakeGeminiWeb

from .conftest import StartWebAI, webai_config

KEY = "sk-client-webai-e2e"
TOKEN = "svc-token-0123456789abcdef"
MODEL = "gemini-2.5-flash-webai"


def _config(tmp_path: Path, fake: FakeGeminiWeb, backup: FakeOpenAI | None = None) -> Config:
    extra = {}
    providers = ["webai"]
    if backup is not None:
        extra["backup"] = {
            "kind": "openai-compatible",
            "base_url": backup.base_url,
            "api_keys": ["sk-backup-1"],
        }
        providers.append("backup")
    return webai_config(
        tmp_path,
        fake,
        token=TOKEN,
        api_keys=[KEY],
        extra_providers=extra,
        routing=[{"pattern": ".*-webai$", "providers": providers}],
    )


def _openai(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


async def test_openai_sdk_through_router_and_webai(
    start_router: StartRouter, start_webai: StartWebAI, tmp_path
) -> None:
    async with FakeGeminiWeb() as fake:
        fake.enqueue(Reply(text="plain answer"), Reply(text="a streamed answer"))
        config = _config(tmp_path, fake)
        await start_webai(config)
        router = await start_router(config)
        async with _openai(router.url) as client:
            out = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "again"}], stream=True
            )
            pieces = [c.choices[0].delta.content async for c in stream if c.choices]
    assert out.choices[0].message.content == "plain answer"
    assert "".join(p for p in pieces if p) == "a streamed answer"
    assert len([p for p in pieces if p]) == 3
    # The executor stripped the suffix; the library resolved the name to the account's model.
    assert fake.model_ids == ["fbb127bbb056c959", "fbb127bbb056c959"]
    assert fake.prompts == ["hi", "again"]


async def test_anthropic_sdk_is_translated(
    start_router: StartRouter, start_webai: StartWebAI, tmp_path
) -> None:
    async with FakeGeminiWeb() as fake:
        fake.enqueue(Reply(text="Bonjour", thinking="French, then."), Reply(text="x y z"))
        config = _config(tmp_path, fake)
        await start_webai(config)
        router = await start_router(config)
        async with anthropic.AsyncAnthropic(base_url=router.url, api_key=KEY, max_retries=0) as c:
            msg = await c.messages.create(
                model=MODEL,
                max_tokens=100,
                system="Speak French.",
                messages=[{"role": "user", "content": "Hello"}],
            )
            async with c.messages.stream(
                model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "go"}]
            ) as stream:
                text = "".join([t async for t in stream.text_stream])
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[-1].text == "Bonjour"  # type: ignore[union-attr]
    assert text == "x y z"
    assert fake.prompts[0] == "System:\nSpeak French.\n\nUser:\nHello"


async def test_rotated_cookies_survive_a_restart(
    start_router: StartRouter, start_webai: StartWebAI, tmp_path
) -> None:
    async with FakeGeminiWeb(rotate_on_generate=True) as fake:
        original = fake.account.psidts
        config = _config(tmp_path, fake)  # config.yaml keeps holding the original cookie
        webai = await start_webai(config)
        router = await start_router(config)
        async with _openai(router.url) as client:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "one"}]
            )
            rotated = fake.account.psidts
            assert rotated != original  # Google rotated it, and stopped accepting the old one
            saved = json.loads((tmp_path / "auth" / "webai-default.json").read_text())
            assert saved["cookies"]["__Secure-1PSIDTS"] == rotated

            await webai.server.close()  # restart the service...
            shutil.rmtree(tmp_path / "auth" / "webai-cache")  # ...without the library's own cache
            await start_webai(config)
            out = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "two"}]
            )
    assert out.choices[0].message.content == "Hello from Gemini web"
    sign_ins = [r for r in fake.requests if r.path == "/app"]
    assert [r.cookies["__Secure-1PSIDTS"] for r in sign_ins] == [original, rotated]


async def test_bad_cookies_fail_over_to_the_next_provider(
    start_router: StartRouter, start_webai: StartWebAI, tmp_path
) -> None:
    bad = {"__Secure-1PSID": "g.a000expired-session-77", "__Secure-1PSIDTS": "sidts-expired-99"}
    async with FakeGeminiWeb() as fake, FakeOpenAI() as backup:
        backup.default = Reply(text="answered by the backup")
        config = _config(tmp_path, fake, backup)
        gem = config.providers["webai"].options["gemini"]
        gem["cookies"] = bad
        webai = await start_webai(config)
        status, health = await webai.health_settled()
        assert status == 503 and health["backends"][0]["cookies"] == "need renewing"
        router = await start_router(config)
        async with _openai(router.url) as client:
            first = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
            second = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
    assert first.choices[0].message.content == "answered by the backup"
    assert second.choices[0].message.content == "answered by the backup"
    assert len(backup.requests) == 2
    assert fake.prompts == []  # never answered as a signed-out guest
    # The router saw webai's 401 once, then kept the refused credential out of rotation.
    (cred,) = router.app[STATE].current.table.credentials("webai")
    assert cred.disabled_reason == "upstream answered 401"
