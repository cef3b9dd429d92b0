"""What ``codex-oauth`` sends, field by field against Codex CLI's captured requests.

``shared/fixtures/subscription/codex-chatgpt/exec-request.json`` is Codex CLI
0.171.0 (``codex exec``) signed in with ChatGPT; ``shared/fixtures/clients/codex/``
is Codex pointed at this router. The fake ChatGPT backend records every
request and notes each turn of a conversation that comes with another
session id than its first (a prompt-cache miss on the real backend).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.fakes import FakeOpenAI, Reply
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    MANAGEMENT_KEY,
    ROOT,
    codex_record,
    config,
    provider_configs,
    write_cliproxy_file,
)

FIXTURES = ROOT.parent / "shared" / "fixtures"
EXEC = FIXTURES / "subscription" / "codex-chatgpt" / "exec-request.json"
CLIENT_TURN = FIXTURES / "clients" / "codex" / "turn1-request.json"
_TRANSPORT = {"authorization", "connection", "host", "content-length"}
# Only Codex itself has these (its turn metadata, its zstd body): passed through from it.
_CODEX_ONLY = ("x-codex-", "x-openai-", "content-encoding")
_IDS = ("session-id", "thread-id", "x-client-request-id")

pytestmark = pytest.mark.skipif(not EXEC.exists(), reason="shared/fixtures not beside the repo")


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(path.read_bytes())
    return doc


def _headers(capture: dict[str, Any]) -> list[tuple[str, str]]:
    raw = capture.get("raw_headers") or list(capture["headers"].items())
    return [(k, v) for k, v in raw if k.lower() not in _TRANSPORT]


async def _router(start_router, tmp: Path, oauth: FakeOAuth, api: FakeOpenAI) -> Any:
    api.api_keys = oauth.access
    write_cliproxy_file(tmp / "auth", codex_record(oauth, time.time() + 3600))
    cfg = config(
        provider_configs(codex=oauth, openai=api), {"dir": str(tmp / "auth")}, api_keys=[CLIENT_KEY]
    )
    return await start_router(cfg)


def _compare_with_codex(sent: Any, oauth: FakeOAuth) -> str:
    """One request our executor sent for an SDK client, against `codex exec`'s; its id."""
    capture = _load(EXEC)
    want = {k.lower(): v for k, v in _headers(capture) if not k.lower().startswith(_CODEX_ONLY)}
    got = {k.lower(): v for k, v in sent.headers.items() if k.lower() not in _TRANSPORT}
    assert sorted(got) == sorted(want)
    session = sent.json["prompt_cache_key"]
    assert re.match(
        r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", session
    )
    for name, value in want.items():
        if name in _IDS:
            assert got[name] == session  # one id, four places, as Codex sends it
        elif name == "chatgpt-account-id":
            assert got[name] == oauth.account_id
        elif name == "accept-encoding":
            assert got[name] in ("zstd,gzip", "gzip")  # zstd only where it can be decoded
        else:
            assert got[name] == value, name
    assert sent.headers["Authorization"].startswith("Bearer ")
    assert sent.path == capture["path"]
    body = sent.json
    assert "instructions" not in body  # the base prompt is a developer item, as in Codex's
    assert (body["store"], body["stream"]) == (False, True)
    assert body["include"] == capture["body"]["include"]
    assert set(body) <= set(capture["body"]) | {"tools"}
    return str(session)


async def test_responses_sdk_conversation_keeps_one_session(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.default = Reply(text="ok")
        r = await _router(start_router, tmp_path, oauth, api)
        items: list[Any] = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "list the files"},
        ]
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            first = await client.responses.create(model="gpt-5", input=items)
            items += [
                {"role": "assistant", "content": first.output_text},
                {"role": "user", "content": "and the next"},
            ]
            stream = await client.responses.create(model="gpt-5", input=items, stream=True)
            assert [e.type async for e in stream][-1] == "response.completed"
            await client.responses.create(model="gpt-5", input="another conversation")
    one, two, other = api.requests
    ids = [_compare_with_codex(sent, oauth) for sent in (one, two, other)]
    assert ids[0] == ids[1] != ids[2]
    assert one.json["input"][0]["role"] == "developer"
    assert api.codex_sessions.breaks == [] and api.codex_sessions.mismatched == []


async def test_anthropic_sdk_conversation_keeps_one_session(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.default = Reply(text="ok")
        r = await _router(start_router, tmp_path, oauth, api)
        history: list[Any] = [{"role": "user", "content": "hello there"}]
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            await client.messages.create(
                model="gpt-5", max_tokens=50, system="Pirate.", messages=history
            )
            history += [
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "again"},
            ]
            async with client.messages.stream(
                model="gpt-5", max_tokens=50, system="Pirate.", messages=history
            ) as s:
                assert await s.get_final_text() == "ok"
    ids = [_compare_with_codex(sent, oauth) for sent in api.requests]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert api.codex_sessions.breaks == []


async def test_codex_itself_goes_through_as_it_is(start_router, tmp_path: Path) -> None:
    """Codex CLI's captured request: its ids, x-codex-* headers, client_metadata, version."""
    capture = _load(CLIENT_TURN)
    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        r = await _router(start_router, tmp_path, oauth, api)
        headers = dict(_headers(capture))
        headers["Authorization"] = f"Bearer {CLIENT_KEY}"
        async with httpx.AsyncClient(base_url=r.url, timeout=30) as http:
            resp = await http.post(
                capture["path"], content=orjson.dumps(capture["body"]), headers=headers
            )
            assert resp.status_code == 200, resp.text[:300]
    (sent,) = api.requests
    assert sent.json == capture["body"]  # prompt_cache_key, client_metadata, items: as sent
    got = {k.lower(): v for k, v in sent.headers.items()}
    for name, value in _headers(capture):
        if name.lower() != "authorization":
            assert got[name.lower()] == value, name
    assert got["version"] == "0.169.0"  # its own, read off its user agent
    assert got["authorization"] != f"Bearer {CLIENT_KEY}"
    assert got["chatgpt-account-id"] == oauth.account_id


async def test_plan_usage_from_headers_and_on_demand(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.codex_usage = {"primary": 61.0, "secondary": 18.0}
        r = await _router(start_router, tmp_path, oauth, api)
        mgmt = {"X-Management-Key": MANAGEMENT_KEY}
        async with httpx.AsyncClient(base_url=r.url, timeout=10) as http:
            before = (await http.get("/v1/auth/credentials", headers=mgmt)).json()
            usage = await http.get(
                "/v1/auth/credentials/codex-user@example.com/usage", headers=mgmt
            )
            api.codex_usage = {"primary": 62.0, "secondary": 19.0}
            await http.post(
                "/v1/responses",
                json={"model": "gpt-5", "input": "hi"},
                headers={"Authorization": f"Bearer {CLIENT_KEY}"},
            )
            status = (await http.get("/status.json", headers=mgmt)).json()
    assert before["credentials"][0]["quota"] is None  # nothing reported yet
    assert usage.status_code == 200, usage.text
    quota = usage.json()["quota"]
    assert quota["source"] == "usage" and quota["plan"] == "plus"
    assert quota["five_hour"]["used_percent"] == 61 and quota["weekly"]["used_percent"] == 18
    assert quota["five_hour"]["window_minutes"] == 300
    (cred,) = [c for p in status["providers"] for c in p["credentials"]]
    assert cred["quota"]["source"] == "headers"
    assert cred["quota"]["five_hour"]["used_percent"] == 62
    assert cred["quota"]["weekly"]["resets_at"] > time.time() + 3 * 86400


async def test_the_fake_notices_a_conversation_that_changes_its_id() -> None:
    """What the session tests rely on: a fresh id on a later turn is recorded as a break."""
    turn1 = [{"role": "user", "content": "hi"}]
    turn2 = [*turn1, {"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}]
    async with FakeOpenAI() as api, httpx.AsyncClient(timeout=10) as http:
        for items, key in ((turn1, "id-1"), (turn2, "id-1"), (turn2, "id-2")):
            body = {"model": "gpt-5", "input": items, "store": False, "stream": True}
            body["prompt_cache_key"] = key
            resp = await http.post(f"{api.codex_base_url}/responses", json=body)
            assert resp.status_code == 200
    assert api.codex_sessions.breaks == [("id-1", "id-2")]
