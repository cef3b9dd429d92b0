"""What ``claude-oauth`` sends, field by field against Claude Code's captured requests.

The captures (``shared/fixtures/subscription/claude-code-oauth/``) are Claude
Code 2.1.337 signed in with a Max plan; ``shared/fixtures/clients/claude-code/``
is Claude Code pointed at this router. The fake Anthropic API records what
the router sent and refuses what the real API refuses (a billing header
that is not ``system[0]`` or does not match the prompt, a missing
``metadata.user_id``).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from router.executors._billing import billing_suffix, prompt_text
from router.executors._profiles import accept_encoding
from tests.fakes import FakeAnthropic, Reply
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    MANAGEMENT_KEY,
    ROOT,
    claude_record,
    config,
    provider_configs,
    raw_config,
    write_cliproxy_file,
)

FIXTURES = ROOT.parent / "shared" / "fixtures"
PRINT_MODE = FIXTURES / "subscription" / "claude-code-oauth" / "print-mode-request.json"
INTERACTIVE = FIXTURES / "subscription" / "claude-code-oauth" / "interactive-request.json"
CLIENT_TURNS = [FIXTURES / "clients" / "claude-code" / f"turn{i}-request.json" for i in (1, 2)]
# Set by the connection, not by the client: not compared.
_TRANSPORT = {"authorization", "connection", "host", "content-length"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_BILLING = re.compile(r"cc_version=([\d.]+)\.([0-9a-f]{3}); cc_entrypoint=([a-z-]+);")

pytestmark = pytest.mark.skipif(
    not PRINT_MODE.exists(), reason="shared/fixtures not beside the repo"
)


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(path.read_bytes())
    return doc


def _headers(capture: dict[str, Any]) -> list[tuple[str, str]]:
    raw = capture.get("raw_headers") or list(capture["headers"].items())
    return [(k, v) for k, v in raw if k.lower() not in _TRANSPORT]


@pytest.mark.parametrize("path", [PRINT_MODE, INTERACTIVE, *CLIENT_TURNS], ids=lambda p: p.stem)
def test_billing_hex_is_claude_codes_for_the_captured_prompts(path: Path) -> None:
    body = _load(path)["body"]
    version, hex3, _ = _BILLING.search(body["system"][0]["text"]).groups()  # type: ignore[union-attr]
    assert billing_suffix(prompt_text(body["messages"]), version) == hex3


def _setup(tmp: Path, oauth: FakeOAuth, api: FakeAnthropic) -> Any:
    """A CLIProxyAPI token file whose access token has lapsed: the first request refreshes,
    and the token endpoint's answer brings the account's uuid."""
    api.api_keys = oauth.access
    access, refresh = oauth.issue()
    write_cliproxy_file(tmp / "auth", claude_record(access, refresh, time.time() - 5))
    return config(
        provider_configs(claude=oauth, anthropic=api),
        {"dir": str(tmp / "auth")},
        api_keys=[CLIENT_KEY],
    )


def _user_id(sent: Any) -> dict[str, Any]:
    raw = sent.json["metadata"]["user_id"]
    assert isinstance(raw, str)  # a JSON *string*, as Claude Code sends it
    user: dict[str, Any] = orjson.loads(raw)
    return user


def _compare_with_claude_code(sent: Any, oauth: FakeOAuth, prompt: str) -> None:
    """One request our executor sent for an SDK client, against `claude -p`'s."""
    capture = _load(PRINT_MODE)
    want = capture["body"]
    ours = [(k, v) for k, v in sent.headers.items() if k.lower() not in _TRANSPORT]
    assert sorted(k.lower() for k, _ in ours) == sorted(k.lower() for k, _ in _headers(capture))
    got = {k.lower(): v for k, v in ours}
    for name, value in _headers(capture):
        low = name.lower()
        if low == "x-claude-code-session-id":
            assert _UUID.match(got[low])
        elif low == "accept-encoding":  # minus what this process cannot decode
            assert got[low] == accept_encoding(value)
        else:  # the beta list in Claude Code's order, like every other value
            assert got[low] == value, name
    assert sent.headers["Authorization"].startswith("Bearer sk-ant-oat")
    assert sent.path == capture["path"] and sent.query == {"beta": "true"}
    system = sent.json["system"]
    version, hex3, entry = _BILLING.search(system[0]["text"]).groups()  # type: ignore[union-attr]
    assert system[0]["text"] == want["system"][0]["text"].replace("946", hex3)
    assert (version, entry, hex3) == ("2.1.337", "sdk-cli", billing_suffix(prompt, version))
    assert system[1] == want["system"][1]
    user = _user_id(sent)
    assert list(user) == list(orjson.loads(want["metadata"]["user_id"]))
    assert re.match(r"^[0-9a-f]{64}$", user["device_id"])
    assert user["account_uuid"] == oauth.account_id  # from the token endpoint's answer
    assert user["session_id"] == got["x-claude-code-session-id"]


async def test_anthropic_sdk_requests_look_like_claude_codes(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.default = Reply(text="ok")
        r = await start_router(_setup(tmp_path, oauth, api))
        history: list[Any] = [{"role": "user", "content": "summarise this file"}]
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            await client.messages.create(
                model="claude-x", max_tokens=50, system="Be brief.", messages=history
            )
            history += [
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "and now the next one"},
            ]
            async with client.messages.stream(
                model="claude-x", max_tokens=50, system="Be brief.", messages=history
            ) as s:
                assert await s.get_final_text() == "ok"
            await client.messages.create(  # another conversation
                model="claude-x", max_tokens=50, messages=[{"role": "user", "content": "other"}]
            )
    first, second, other = api.requests
    for sent in (first, second):
        _compare_with_claude_code(sent, oauth, "summarise this file")
        assert sent.json["system"][2] == {"type": "text", "text": "Be brief."}
    assert _user_id(first) == _user_id(second)  # one session and device for the conversation
    assert _user_id(other)["session_id"] != _user_id(first)["session_id"]
    assert _user_id(other)["device_id"] == _user_id(first)["device_id"]
    stored = orjson.loads((tmp_path / "auth" / "claude-user@example.com.json").read_bytes())
    assert stored["device_id"] == _user_id(first)["device_id"]  # kept with the credential
    assert stored["account_uuid"] == oauth.account_id


async def test_openai_sdk_requests_look_like_claude_codes(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.default = Reply(text="ok")
        r = await start_router(_setup(tmp_path, oauth, api))
        turn: list[Any] = [
            {"role": "system", "content": "Sys."},
            {"role": "user", "content": "what is in here?"},
        ]
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            await client.chat.completions.create(model="claude-x", messages=turn)
            turn += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}]
            stream = await client.chat.completions.create(
                model="claude-x", messages=turn, stream=True
            )
            assert [c async for c in stream]
    first, second = api.requests
    for sent in (first, second):
        _compare_with_claude_code(sent, oauth, "what is in here?")
        assert sent.json["system"][2]["text"] == "Sys."
    assert _user_id(first) == _user_id(second)


@pytest.mark.parametrize("entrypoint", ["cli"])
async def test_the_client_profile_follows_the_config(
    start_router, tmp_path: Path, entrypoint: str
) -> None:
    """``client: {version, entrypoint}``: the interactive capture, at another version."""
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        cfg = _setup(tmp_path, oauth, api)
        raw = dict(cfg.raw)
        raw["providers"]["llmux-claude"]["client"] = {
            "version": "2.1.400",
            "entrypoint": entrypoint,
        }
        from suite.config import parse_config

        r = await start_router(parse_config(raw, environ={}))
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            await client.messages.create(
                model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hey"}]
            )
    sent, want = api.requests[0], _load(INTERACTIVE)
    wanted = dict((k.lower(), v) for k, v in _headers(want))
    assert sent.headers["anthropic-beta"] == wanted["anthropic-beta"]
    assert sent.headers["User-Agent"] == "claude-cli/2.1.400 (external, cli)"
    assert sent.json["system"][1] == want["body"]["system"][1]
    assert "cc_version=2.1.400." in sent.json["system"][0]["text"]


async def test_claude_codes_own_requests_keep_their_shape(start_router, tmp_path: Path) -> None:
    """Claude Code through the router: only the credential changes."""
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.models = None
        r = await start_router(_setup(tmp_path, oauth, api))
        async with httpx.AsyncClient(base_url=r.url, timeout=30) as http:
            for path in CLIENT_TURNS:
                capture = _load(path)
                headers = dict(_headers(capture))
                headers.pop("Accept-Encoding", None)
                headers["x-api-key"] = CLIENT_KEY
                resp = await http.post(
                    capture["path"], content=orjson.dumps(capture["body"]), headers=headers
                )
                assert resp.status_code == 200, resp.text[:300]
    for sent, path in zip(api.requests, CLIENT_TURNS, strict=True):
        capture = _load(path)
        want = dict(capture["body"])
        user = orjson.loads(want["metadata"]["user_id"])
        assert user["account_uuid"] == ""  # Claude Code signed in with a key, not an account
        user["account_uuid"] = oauth.account_id
        want["metadata"] = {"user_id": orjson.dumps(user).decode()}
        assert sent.json == want  # billing header, identity, system, messages: untouched
        got = {k.lower(): v for k, v in sent.headers.items() if k.lower() not in _TRANSPORT}
        for name, value in _headers(capture):
            low = name.lower()
            if low == "anthropic-beta":  # signed in: the oauth beta, where Claude Code puts it
                betas = value.split(",")
                assert got[low].split(",") == [betas[0], "oauth-2025-04-20", *betas[1:]]
            elif low == "accept-encoding":
                assert got[low] == accept_encoding(value)
            else:
                assert got[low] == value, name
        assert "x-api-key" not in got and sent.headers["Authorization"].startswith("Bearer ")


async def test_quota_reaches_status_metrics_and_the_accounts_table(
    start_router, tmp_path: Path
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.plan_usage = {"5h": 0.42, "7d": 0.87}
        r = await start_router(_setup(tmp_path, oauth, api))
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            await client.messages.create(
                model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        mgmt = {"X-Management-Key": MANAGEMENT_KEY}
        async with httpx.AsyncClient(base_url=r.url, timeout=10) as http:
            status = (await http.get("/status.json", headers=mgmt)).json()
            metrics = (await http.get("/metrics")).text
            listed = (await http.get("/v1/auth/credentials", headers=mgmt)).json()
        port = int(r.url.rsplit(":", 1)[1])
        cfg_path = tmp_path / "accounts.yaml"
        raw = raw_config({}, {"dir": str(tmp_path / "auth")}, port=port)
        cfg_path.write_text(yaml.safe_dump(raw))
        table = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "router", "accounts", "--config", str(cfg_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    (cred,) = [c for p in status["providers"] for c in p["credentials"]]
    quota = cred["quota"]
    assert quota["five_hour"]["used_percent"] == 42 and quota["weekly"]["used_percent"] == 87
    assert quota["binding"] == "seven_day" and quota["five_hour"]["resets_at"] > time.time()
    assert _gauge(metrics, "cliproxy_quota_used_percent", cred["id"], "weekly") == 87
    assert _gauge(metrics, "cliproxy_quota_resets_at_seconds", cred["id"], "five_hour") > 0
    assert listed["credentials"][0]["quota"]["weekly"]["used_percent"] == 87
    assert table.returncode == 0, table.stdout + table.stderr
    row = next(x for x in table.stdout.splitlines() if x.startswith("claude-user@example.com"))
    assert "42%" in row and "87%" in row and re.search(r"\b[45]h \d+m\b", row)


def _gauge(text: str, name: str, credential: str, window: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == name and (labels.get("credential"), labels.get("window")) == (
                credential,
                window,
            ):
                return float(sample.value)
    raise AssertionError(f"no {name} for {credential} {window}")


def test_unknown_client_keys_are_config_errors_naming_them(tmp_path: Path) -> None:
    from suite.config import ConfigError, parse_config

    oauth = type(
        "O", (), {"authorize_url": "http://127.0.0.1:1/a", "token_url": "http://127.0.0.1:1/t"}
    )
    oauth.paste_redirect_uri = "http://127.0.0.1:1/p"  # type: ignore[attr-defined]
    api = type("A", (), {"base_url": "http://127.0.0.1:1"})
    raw = raw_config(provider_configs(claude=oauth, anthropic=api), {"dir": str(tmp_path)})
    raw["providers"]["llmux-claude"]["client"] = {"versoin": "2.1.400"}
    with pytest.raises(ConfigError, match=r"providers\.llmux-claude\.client\.versoin: unknown key"):
        parse_config(raw, environ={})
    raw["providers"]["llmux-claude"]["client"] = {"version": "2.1.400", "cch": "sometimes"}
    with pytest.raises(ConfigError, match=r"client\.cch"):
        parse_config(raw, environ={})
