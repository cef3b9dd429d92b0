"""The console's own endpoints, over HTTP against an in-process router: the page carries no
data, every endpoint wants the management key, the config view masks every secret and says
where each value came from, reload names the bad key, the log ring finds a request by id,
and a CLIProxyAPI token file can be uploaded (or is refused in words)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from suite.config import load_config
from suite.log_ring import LOG_RING
from tests.fakes import FakeOpenAI, Reply
from tests.router.auth._support import claude_record

MGMT = "console-mgmt-key-0123456789abcdef"
CLIENT = "sk-console-client-0123456789"
UPSTREAM = "sk-console-upstream-0123456789"
ENV_SECRET = "sk-from-the-environment-0123456789"
GOOD = {"Authorization": f"Bearer {MGMT}"}


def _write(path: Path, base_url: str, auth: Path, **extra: Any) -> None:
    data: dict[str, Any] = {
        "server": {
            "api_keys": [CLIENT, "${CONSOLE_TEST_KEY}"],
            "timeouts": {"connect": 2, "first_byte": 5, "idle": 5},
            "limits": {"max_connections": 200},
        },
        "management": {"key": MGMT},
        "auth": {"dir": str(auth), "poll_seconds": 0.1},
        "providers": {
            "up": {
                "kind": "openai-compatible",
                "base_url": "${CONSOLE_TEST_URL:-" + base_url + "}",
                "api_keys": [UPSTREAM],
                "models": ["console-model"],
            },
            "llmux-claude": {"kind": "claude-oauth"},
        },
        "models": {"routing": [{"pattern": "^console-", "providers": ["up"]}]},
    }
    data.update(extra)
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
async def router(start_router, tmp_path: Path):
    async with FakeOpenAI(default=Reply(text="hello", usage=(3, 2))) as up:
        path = tmp_path / "config.yaml"
        _write(path, up.base_url, tmp_path / "auth")
        config = load_config(path, environ={"CONSOLE_TEST_KEY": ENV_SECRET})
        running = await start_router(config)
        running.config_path = path
        running.upstream = up
        yield running


async def test_the_page_holds_no_data_and_the_api_wants_the_key(router) -> None:
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as http:
        page = await http.get("/console")
        assert page.status_code == 200 and "Management key" in page.text
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        for asset in ("app.js", "ui.js", "accounts.js", "console.css"):
            assert (await http.get(f"/console/{asset}")).status_code == 200
        for method, path in [
            ("GET", "/v1/console/info"),
            ("GET", "/v1/console/config"),
            ("POST", "/v1/console/reload"),
            ("GET", "/v1/console/logs"),
            ("POST", "/v1/auth/credentials"),
        ]:
            # No key, or a client key (not a management key): refused (429 once wrong
            # keys from this address are limited, docs/credentials.md).
            assert (await http.request(method, path)).status_code in (401, 429), path
            bearer = {"Authorization": f"Bearer {CLIENT}"}
            refused = await http.request(method, path, headers=bearer)
            assert refused.status_code in (401, 429), path
        info = (await http.get("/v1/console/info", headers=GOOD)).json()
    assert info["api_keys"] == 2 and info["management_key"] == "config"
    assert info["features"]["reset"] is True and info["last_reload"] is None
    for secret in (MGMT, CLIENT, UPSTREAM, ENV_SECRET):
        assert secret not in page.text and secret not in str(info)


async def test_config_view_masks_secrets_and_names_origins(router) -> None:
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as http:
        resp = await http.get("/v1/console/config", headers=GOOD)
    assert resp.status_code == 200
    for secret in (MGMT, CLIENT, UPSTREAM, ENV_SECRET):
        assert secret not in resp.text
    entries = {e["key"]: e for e in resp.json()["entries"]}
    assert entries["server.api_keys"]["value"] == "2 set"
    assert entries["server.api_keys"]["source"] == "env"
    assert entries["server.api_keys"]["env"] == ["CONSOLE_TEST_KEY"]
    assert entries["management.key"]["value"] == "•••••• (set)"
    assert entries["providers.up.api_keys"]["value"] == "1 set"
    assert entries["server.limits.max_connections"] == {
        "key": "server.limits.max_connections",
        "value": 200,
        "source": "file",
    }
    assert entries["server.limits.header_seconds"]["source"] == "default"
    assert entries["server.port"]["source"] == "default"
    url = entries["providers.up.base_url"]
    assert url["source"] == "env" and url["fallback"] is True
    assert url["value"] == router.upstream.base_url


async def test_reload_names_the_bad_key_and_keeps_the_running_config(router) -> None:
    path: Path = router.config_path
    good = path.read_text()
    data = yaml.safe_load(good)
    data["server"]["limits"]["max_conections"] = 5  # misspelt
    path.write_text(yaml.safe_dump(data))
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as http:
        bad = await http.post("/v1/console/reload", headers=GOOD)
        assert bad.status_code == 400
        body = bad.json()
        assert body["ok"] is False and body["trigger"] == "console"
        (error,) = body["errors"]
        assert error["key"].startswith("server.limits")
        assert "max_conections" in error["message"]
        info = (await http.get("/v1/console/info", headers=GOOD)).json()
        assert info["last_reload"]["ok"] is False
        # The running config is kept: requests are still served.
        served = await http.post(
            "/v1/chat/completions",
            json={"model": "console-model", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {CLIENT}"},
        )
        assert served.status_code == 200
        path.write_text(good.replace("^console-", "^renamed-"))
        ok = await http.post("/v1/console/reload", headers=GOOD)
        assert ok.status_code == 200 and ok.json()["ok"] is True, ok.text
        assert ok.json()["providers"] == ["up"]
        got = await http.get("/v1/console/config", headers=GOOD)
        assert got.status_code == 200, got.text
        config = got.json()
        assert config["last_reload"]["ok"] is True
        rules = [e for e in config["entries"] if e["key"].startswith("models.routing")]
        assert any(e["value"] == "^renamed-" for e in rules), rules


async def test_logs_find_a_request_by_its_id(router) -> None:
    LOG_RING.clear()
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as http:
        ids = []
        for model in ("console-model", "no-such-model"):
            resp = await http.post(
                "/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {CLIENT}"},
            )
            ids.append(resp.headers["X-Request-Id"])
        deadline = time.monotonic() + 5
        while len(LOG_RING.access) < 2 and time.monotonic() < deadline:
            await http.get("/healthz")
        found = (await http.get(f"/v1/console/logs?q={ids[0]}", headers=GOOD)).json()
        (line,) = found["access"]
        assert line["request_id"] == ids[0] and line["status"] == 200
        errors = (await http.get("/v1/console/logs?kind=errors", headers=GOOD)).json()
        assert [x["request_id"] for x in errors["access"]] == [ids[1]]
        assert (await http.get("/v1/console/logs?n=x", headers=GOOD)).status_code == 400
        assert CLIENT not in str(found) + str(errors)


async def test_a_cliproxyapi_token_file_is_stored_and_bad_ones_are_refused(
    router, tmp_path: Path
) -> None:
    rec = claude_record(
        "sk-ant-oat-console-access-0123",
        "sk-ant-ort-console-refresh-0123",
        time.time() + 3600,
        "up@example.com",
    )
    text = orjson.dumps(dict(rec.data)).decode()
    async with httpx.AsyncClient(base_url=router.url, timeout=10) as http:
        made = await http.post(
            "/v1/auth/credentials",
            json={"filename": "claude-up@example.com.json", "content": text},
            headers=GOOD,
        )
        assert made.status_code == 201, made.text
        assert made.json()["name"] == "claude-up@example.com"
        assert "console-access" not in made.text and "console-refresh" not in made.text
        stored = tmp_path / "auth" / "claude-up@example.com.json"
        assert stored.exists() and stored.stat().st_mode & 0o777 == 0o600
        listed = (await http.get("/v1/auth/credentials", headers=GOOD)).json()["credentials"]
        assert [c["name"] for c in listed] == ["claude-up@example.com"]
        cases = {
            "not json at all": "is not JSON",
            '{"type": "gemini", "access_token": "x"}': "not one this router serves",
            '{"type": "claude", "email": "a@b.c"}': "needs access_token or refresh_token",
            '["a list"]': "one JSON object",
            '{"type": "claude", "access_token": "tok-123456789"}': "names no account",
        }
        for content, words in cases.items():
            bad = await http.post(
                "/v1/auth/credentials",
                json={"filename": "upload.json", "content": content},
                headers=GOOD,
            )
            assert bad.status_code == 400 and words in bad.json()["error"]["message"], bad.text
