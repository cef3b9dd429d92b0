"""``claude-oauth`` through the SDKs: OAuth headers, Claude Code's shape, merged betas.

Field-by-field comparisons with the captured Claude Code requests are in
``test_claude_profile.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import anthropic
import openai

from router.auth import AuthRecord
from router.executors._claude import shape_body
from router.executors._profiles import AGENT_SDK_IDENTITY, ClaudeProfile
from suite.config import parse_config
from tests.fakes import FakeAnthropic, Reply
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    claude_record,
    config,
    provider_configs,
    write_cliproxy_file,
)

MSG = [{"role": "user", "content": "hi"}]


def _setup(
    tmp: Path, oauth: FakeOAuth, api: FakeAnthropic, expires_in: float = 3600
) -> tuple[object, str]:
    api.api_keys = oauth.access  # the API accepts exactly the tokens the OAuth server issued
    access, refresh = oauth.issue()
    write_cliproxy_file(tmp / "auth", claude_record(access, refresh, time.time() + expires_in))
    cfg = config(
        provider_configs(claude=oauth, anthropic=api),
        {"dir": str(tmp / "auth")},
        api_keys=[CLIENT_KEY],
    )
    return cfg, access


async def test_anthropic_sdk_gets_claude_code_shape_and_merged_betas(
    start_router, tmp_path: Path
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.default = Reply(text="hello from the subscription")
        cfg, access = _setup(tmp_path, oauth, api)
        r = await start_router(cfg)
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            msg = await client.messages.create(
                model="claude-x-test",
                max_tokens=20,
                system="Answer briefly.",
                messages=MSG,
                extra_headers={"anthropic-beta": "prompt-caching-2024-07-31,files-api-2025-04-14"},
            )
            async with client.messages.stream(
                model="claude-x-test", max_tokens=20, messages=MSG
            ) as s:
                streamed = "".join([t async for t in s.text_stream])
    assert msg.content[0].text == "hello from the subscription"
    assert streamed == "hello from the subscription"
    first = api.requests[0]
    assert first.headers["Authorization"] == f"Bearer {access}"
    assert "x-api-key" not in first.headers
    assert first.query.get("beta") == "true"
    assert first.headers["x-app"] == "cli"
    assert first.headers["User-Agent"] == "claude-cli/2.1.337 (external, sdk-cli)"
    betas = first.headers["anthropic-beta"].split(",")
    assert betas[:2] == ["claude-code-20250219", "oauth-2025-04-20"]
    assert betas[-1] == "files-api-2025-04-14"  # the client's own need, after Claude Code's
    assert "prompt-caching-2024-07-31" not in betas  # a retired beta is not carried along
    system = first.json["system"]
    assert system[0]["text"].startswith("x-anthropic-billing-header: cc_version=2.1.337.")
    assert system[1] == {
        "type": "text",
        "text": AGENT_SDK_IDENTITY,
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
    assert system[2]["text"] == "Answer briefly."
    assert [b["text"] for b in api.requests[1].json["system"]][1:] == [AGENT_SDK_IDENTITY]


async def test_openai_sdk_is_translated_to_the_subscription(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.default = Reply(text="translated")
        cfg, _ = _setup(tmp_path, oauth, api)
        r = await start_router(cfg)
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            out = await client.chat.completions.create(
                model="claude-x-test",
                messages=[{"role": "system", "content": "Sys."}, {"role": "user", "content": "hi"}],
            )
    assert out.choices[0].message.content == "translated"
    system = api.requests[-1].json["system"]
    assert system[1]["text"] == AGENT_SDK_IDENTITY and system[2]["text"] == "Sys."


async def test_a_401_refreshes_once_and_retries(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        cfg, old = _setup(tmp_path, oauth, api)
        r = await start_router(cfg)
        oauth.revoke_access()  # the token lapsed upstream before its stated expiry
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            msg = await client.messages.create(model="claude-x-test", max_tokens=9, messages=MSG)
    assert msg.content[0].text
    assert oauth.refresh_calls == 1
    assert [rq.headers["Authorization"] == f"Bearer {old}" for rq in api.requests] == [True, False]


def test_identity_is_not_doubled_and_betas_merge_once() -> None:
    token = AuthRecord("claude-a", "claude", {"refresh_token": "r", "account_uuid": "u"}).token()
    identity = "You are Claude Code, Anthropic's official CLI for Claude. More."
    body = {"system": identity, "messages": [{"role": "user", "content": "hi"}]}
    shaped = shape_body(body, ClaudeProfile(), token, "s", cch=False)
    assert [b["text"] for b in shaped["system"]][1:] == [identity]
    betas = ClaudeProfile().merge_betas("oauth-2025-04-20, custom-1").split(",")
    assert betas.count("oauth-2025-04-20") == 1 and betas[-1] == "custom-1"
    assert "fine-grained-tool-streaming-2025-05-14" not in betas


async def test_dead_sign_in_fails_over_to_an_api_key_provider(start_router, tmp_path: Path) -> None:
    async with (
        FakeOAuth("claude") as oauth,
        FakeAnthropic() as api,
        FakeAnthropic(api_keys=("sk-ant-key",)) as keyed,
    ):
        keyed.default = Reply(text="from the api key")
        access, refresh = oauth.issue()
        write_cliproxy_file(
            tmp_path / "auth", claude_record(access, refresh + "-dead", time.time() - 1)
        )
        providers = provider_configs(claude=oauth, anthropic=api)
        providers["anthropic-main"] = {
            "kind": "anthropic",
            "base_url": keyed.base_url,
            "api_keys": ["sk-ant-key"],
        }
        cfg = config(providers, {"dir": str(tmp_path / "auth")}, api_keys=[CLIENT_KEY])
        raw = dict(cfg.raw)
        raw["models"] = {
            "routing": [{"pattern": "^claude-", "providers": ["llmux-claude", "anthropic-main"]}]
        }
        r = await start_router(parse_config(raw, environ={}))
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            msg = await client.messages.create(model="claude-x-test", max_tokens=9, messages=MSG)
    assert msg.content[0].text == "from the api key"
    assert api.requests == []  # the refused sign-in never reached the API
