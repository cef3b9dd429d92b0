"""``/v1/keys``: create (the key shown once), list, show with usage, change, revoke;
the management key is required; bad input is a 400 naming the field; a change made
through one router reaches another on the same store within a second; no key is
ever written to a log line.
"""

from __future__ import annotations

import asyncio
import json
import stat
import time

import aiohttp
import pytest

from router.keys import KEY_PREFIX
from router.observability import OBSERVER
from suite.logging import access_log
from tests.conftest import production_logging

from ._support import CONFIG_KEY, MGMT, file_auth, router_config, upstreams

ADMIN = {"Authorization": f"Bearer {MGMT}"}


def _chat(model: str = "gpt-test") -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


async def _api(http, method: str, url: str, body=None, headers=ADMIN):
    async with http.request(method, url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def _use(http, url: str, key: str, model: str = "gpt-test") -> int:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(f"{url}/v1/chat/completions", json=_chat(model), headers=headers) as r:
        await r.read()
        return r.status


async def test_the_management_key_is_required(start_router, tmp_path) -> None:
    """Without it (or with a client key instead) nothing is listed, made or revoked: 401,
    then 429 once the address has guessed too often (the management guard)."""
    r = await start_router(router_config(None, file_auth(tmp_path)))
    statuses = []
    async with aiohttp.ClientSession() as http:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Bearer {CONFIG_KEY}"},
        ):
            for method, path in (
                ("GET", "/v1/keys"),
                ("POST", "/v1/keys"),
                ("PATCH", "/v1/keys/x"),
                ("DELETE", "/v1/keys/x"),
            ):
                status, body = await _api(http, method, r.url + path, {"name": "x"}, headers)
                statuses.append(status)
                assert "keys" not in body and "key" not in body, body
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    assert not (tmp_path / "auth" / "client-keys.json").exists()


async def test_create_list_show_change_revoke(start_router, tmp_path, capsys) -> None:
    async with upstreams() as ups:
        r = await start_router(router_config(ups, file_auth(tmp_path)))
        url = f"{r.url}/v1/keys"
        with production_logging():
            async with aiohttp.ClientSession() as http:
                status, made = await _api(
                    http,
                    "POST",
                    url,
                    {
                        "name": "alice",
                        "models": ["gpt-*"],
                        "requests_per_minute": 5,
                        "expires_at": "30d",
                    },
                )
                assert status == 201, made
                secret = made["key"]
                assert secret.startswith(KEY_PREFIX) and len(secret) >= 40
                assert made["prefix"] == secret[:8] and made["state"] == "active"
                assert made["id"].startswith("k_") and made["expires_at"].endswith("Z")

                status, listed = await _api(http, "GET", url)
                assert status == 200
                text = json.dumps(listed)
                assert secret not in text and "sha256" not in text and secret[8:16] not in text
                names = [(k["name"], k["source"]) for k in listed["keys"]]
                assert names[0][0].startswith("config:") and names[0][1] == "config"
                assert names[1] == ("alice", "store") and CONFIG_KEY not in text

                assert await _use(http, r.url, secret) == 200
                assert await _use(http, r.url, secret, "claude-test") == 403
                status, shown = await _api(http, "GET", f"{url}/alice")
                assert status == 200 and shown["usage"]["requests_this_minute"] == 1
                assert shown["usage"]["tokens_today"] is None  # no such limit
                assert secret not in json.dumps(shown)

                status, changed = await _api(
                    http,
                    "PATCH",
                    f"{url}/{made['id']}",
                    {"models": ["claude-*"], "requests_per_minute": None},
                )
                assert status == 200 and changed["models"] == ["claude-*"]
                assert changed["requests_per_minute"] is None
                assert await _use(http, r.url, secret) == 403
                assert await _use(http, r.url, secret, "claude-test") == 200

                status, revoked = await _api(http, "DELETE", f"{url}/alice")
                assert status == 200 and revoked["state"] == "revoked" and revoked["revoked_at"]
                assert await _use(http, r.url, secret, "claude-test") == 401
                status, listed = await _api(http, "GET", url)
                assert [k["state"] for k in listed["keys"] if k["name"] == "alice"] == ["revoked"]
            access_log.flush()
        out = capsys.readouterr().out
        assert "alice" in out  # the log names the key ...
        assert secret not in out and secret[8:] not in out  # ... and never shows it
        stored = tmp_path / "auth" / "client-keys.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert secret not in stored.read_text()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("POST", "", {}, 400, "name"),
        ("POST", "", {"name": "has space"}, 400, "name"),
        ("POST", "", {"name": "local"}, 400, "reserved"),
        ("POST", "", {"name": "x", "colour": "red"}, 400, "colour: unknown field"),
        ("POST", "", {"name": "x", "requests_per_minute": 0}, 400, "requests_per_minute"),
        ("POST", "", {"name": "x", "tokens_per_day": "lots"}, 400, "tokens_per_day"),
        ("POST", "", {"name": "x", "models": "gpt-*"}, 201, ""),  # one pattern as a string
        ("POST", "", {"name": "x", "models": [1]}, 400, "models"),
        ("POST", "", {"name": "x", "expires_at": "soon"}, 400, "expires_at"),
        ("POST", "", {"name": "taken"}, 409, "exists already"),
        ("POST", "", [1, 2], 400, "JSON object"),
        ("PATCH", "/nobody", {"tokens_per_day": 5}, 404, "no client key"),
        ("PATCH", "/taken", {"name": "other"}, 409, "exists already"),
        ("PATCH", "/taken", {"monthly_token_budget": -3}, 400, "monthly_token_budget"),
        ("GET", "/nobody", None, 404, "no client key"),
        ("DELETE", "/nobody", None, 404, "no client key"),
    ],
)
async def test_bad_input_is_a_clear_error(
    start_router, tmp_path, method, path, body, status, words
) -> None:
    r = await start_router(router_config(None, file_auth(tmp_path)))
    url = f"{r.url}/v1/keys"
    async with aiohttp.ClientSession() as http:
        assert (await _api(http, "POST", url, {"name": "taken"}))[0] == 201
        assert (await _api(http, "POST", url, {"name": "other"}))[0] == 201
        got, answer = await _api(http, method, url + path, body)
    assert got == status, answer
    if words:
        assert words in answer["error"]["message"], answer


async def _until(check, within: float = 5.0) -> float:
    """Seconds until ``check()`` (an awaitable factory) is true; fails after ``within``."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within, "not within the deadline"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_change_through_one_router_reaches_another_within_a_second(
    start_router, tmp_path
) -> None:
    async with upstreams() as ups:
        auth = file_auth(tmp_path)
        one = await start_router(router_config(ups, auth))
        two = await start_router(router_config(ups, auth))
        async with aiohttp.ClientSession() as http:
            assert await _use(http, two.url, "cpa-not-yet") == 401
            status, made = await _api(http, "POST", f"{one.url}/v1/keys", {"name": "bob"})
            assert status == 201
            secret = made["key"]
            seen = await _until(lambda: _ok(http, two.url, secret, 200))
            await _api(http, "PATCH", f"{one.url}/v1/keys/bob", {"models": ["claude-*"]})
            changed = await _until(lambda: _ok(http, two.url, secret, 403))
            await _api(http, "DELETE", f"{one.url}/v1/keys/bob")
            revoked = await _until(lambda: _ok(http, two.url, secret, 401))
        print(f"reached the other router in {seen:.2f} s, {changed:.2f} s, {revoked:.2f} s")
        assert max(seen, changed, revoked) < 1.0


async def _ok(http, url: str, key: str, status: int) -> bool:
    return await _use(http, url, key) == status


async def test_usage_by_key_shows_names_not_hashes(start_router, tmp_path) -> None:
    async with upstreams() as ups:
        cfg = router_config(ups, file_auth(tmp_path))
        r = await start_router(cfg)
        async with aiohttp.ClientSession() as http:
            _, made = await _api(http, "POST", f"{r.url}/v1/keys", {"name": "carol"})
            for key in (made["key"], made["key"], CONFIG_KEY):
                assert await _use(http, r.url, key) == 200
            await r.app[OBSERVER].usage.flush()
            status, usage = await _api(http, "GET", f"{r.url}/v1/usage?group_by=key")
        assert status == 200, usage
        rows = {row["key"]: row["requests"] for row in usage["rows"]}
        assert rows.pop("carol") == 2
        ((label, count),) = rows.items()
        assert label.startswith("config:") and count == 1
        assert made["key"] not in json.dumps(usage)
