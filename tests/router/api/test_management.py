"""The management API: key, loopback, bans, credential actions, and no secret anywhere."""

from __future__ import annotations

import time
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import anthropic
import httpx
import openai
import psutil
import pytest
from aiohttp.test_utils import TestServer, make_mocked_request

from router.api._management import require_management
from router.app import create_app
from router.errors import Forbidden
from tests.fakes import FakeAnthropic, FakeOpenAI, Reply
from tests.fakes.ctonew import FakeCtoNew
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    MANAGEMENT_KEY,
    claude_record,
    config,
    provider_configs,
    raw_config,
    start_router_process,
    write_cliproxy_file,
)
from tests.router.auth.conftest import no_secret_in_output

GOOD = {"X-Management-Key": MANAGEMENT_KEY}
pytestmark = pytest.mark.usefixtures(no_secret_in_output.__name__)


def _outside_address() -> str | None:
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family.name == "AF_INET" and not a.address.startswith("127."):
                return str(a.address)
    return None


async def test_wrong_key_401_no_key_configured_403_and_bans(start_router, tmp_path: Path) -> None:
    r = await start_router(config({}, {"dir": str(tmp_path / "auth")}))
    url = f"{r.url}/v1/auth/credentials"
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(url)).status_code == 401
        assert (
            await http.get(url, headers={"Authorization": f"Bearer {MANAGEMENT_KEY}"})
        ).status_code == 200
        assert (await http.get(url, headers=GOOD)).json() == {"credentials": []}
        for _ in range(4):
            assert (await http.get(url, headers={"X-Management-Key": "wrong"})).status_code == 401
        assert (await http.get(url, headers=GOOD)).status_code == 200  # a success clears the count
        for _ in range(5):
            assert (await http.get(url, headers={"X-Management-Key": "wrong"})).status_code == 401
        banned = await http.get(url, headers={"X-Management-Key": "wrong"})
        assert banned.status_code == 429 and 1790 <= int(banned.headers["Retry-After"]) <= 1800
        assert (await http.get(url, headers=GOOD)).status_code == 200  # the right key passes
    other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(timeout=5, transport=other) as http2:
        assert (
            await http2.get(url, headers=GOOD)
        ).status_code == 200  # another address is not banned
    off = await start_router(config({}, {"dir": str(tmp_path / "auth")}, management={"key": ""}))
    async with httpx.AsyncClient(timeout=5) as http:
        closed = await http.get(f"{off.url}/v1/auth/credentials", headers=GOOD)
    assert closed.status_code == 403 and "management.key" in closed.json()["error"]["message"]


async def test_remote_callers_get_403_unless_allowed(start_router, tmp_path: Path) -> None:
    r = await start_router(config({}, {"dir": str(tmp_path / "auth")}))
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("203.0.113.9", 4242) if name == "peername" else default
    )
    request = make_mocked_request(
        "GET", "/v1/auth/credentials", headers=GOOD, app=r.app, transport=transport
    )
    with pytest.raises(Forbidden):
        require_management(request)
    outside = _outside_address()
    if outside is None:
        return  # no non-loopback interface here: the mocked peer above covers the rule
    for allow, expected in ((False, 403), (True, 200)):
        cfg = config(
            {},
            {"dir": str(tmp_path / "auth")},
            management={"key": MANAGEMENT_KEY, "allow_remote": allow},
        )
        server = TestServer(create_app(cfg), host="0.0.0.0")
        await server.start_server()
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                got = await http.get(
                    f"http://{outside}:{server.port}/v1/auth/credentials", headers=GOOD
                )
        finally:
            await server.close()
        assert got.status_code == expected


async def test_list_disable_enable_delete_and_name_checks(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.api_keys = oauth.access
        access, refresh = oauth.issue()
        write_cliproxy_file(tmp_path / "auth", claude_record(access, refresh, time.time() + 3600))
        r = await start_router(
            config(
                provider_configs(claude=oauth, anthropic=api),
                {"dir": str(tmp_path / "auth")},
                api_keys=[CLIENT_KEY],
            )
        )
        name = "claude-user@example.com"
        body = {
            "model": "claude-x-test",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
        }
        async with httpx.AsyncClient(base_url=r.url, headers=GOOD, timeout=5) as http:
            listed = (await http.get("/v1/auth/credentials")).json()["credentials"]
            assert listed == [
                {
                    "name": name,
                    "provider": "claude",
                    "account": "user@example.com",
                    "expires_at": listed[0]["expires_at"],
                    "expired": False,
                    "state": "active",
                    "reason": None,
                    "last_refresh": listed[0]["last_refresh"],
                    "quota": None,  # no answer has reported the plan's usage yet
                }
            ]
            off = await http.post(f"/v1/auth/credentials/{name}/disable")
            assert (
                off.json()["state"] == "disabled"
                and off.json()["reason"] == "disabled by an operator"
            )
            served = await http.post("/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY})
            assert served.status_code == 404  # its only credential is off
            assert (await http.post(f"/v1/auth/credentials/{name}/enable")).json()[
                "state"
            ] == "active"
            served = await http.post("/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY})
            assert served.status_code == 200
            for bad in ("claude-a..b", "claude-..", "nope-x"):
                assert (await http.delete(f"/v1/auth/credentials/{bad}")).status_code == 400
            assert (
                await http.delete("/v1/auth/credentials/claude-missing@example.com")
            ).status_code == 404
            assert (await http.delete(f"/v1/auth/credentials/{name}")).status_code == 200
            assert (await http.get("/v1/auth/credentials")).json() == {"credentials": []}
        assert not (tmp_path / "auth" / f"{name}.json").exists()


async def test_no_secret_in_any_answer_or_log_line(tmp_path: Path) -> None:
    """A real router process through every flow: logins, requests, refreshes, failures."""
    async with (
        FakeOAuth("claude") as claude,
        FakeOAuth("codex") as codex,
        FakeAnthropic() as anth,
        FakeOpenAI() as oai,
        FakeCtoNew() as cto,
    ):
        anth.api_keys, oai.api_keys = claude.access, codex.access
        anth.default = oai.default = Reply(text="fine")
        provs = provider_configs(claude=claude, codex=codex, anthropic=anth, openai=oai, cto=cto)
        cfg = raw_config(provs, {"dir": str(tmp_path / "auth")}, api_keys=[CLIENT_KEY])
        router = await start_router_process(tmp_path, cfg)
        bodies: list[str] = []
        try:
            async with httpx.AsyncClient(base_url=router.url, timeout=15) as http:

                async def call(method: str, path: str, **kw: object) -> httpx.Response:
                    resp = await http.request(method, path, **kw)  # type: ignore[arg-type]
                    bodies.append(resp.text)
                    bodies.append(str(resp.headers))
                    return resp

                await call(
                    "GET", "/v1/auth/credentials", headers={"X-Management-Key": "wrong-guess"}
                )
                for provider in ("claude", "codex"):
                    flow = (
                        await call(
                            "POST",
                            "/v1/auth/login",
                            json={"provider": provider, "mode": "paste"},
                            headers=GOOD,
                        )
                    ).json()
                    async with httpx.AsyncClient() as browser:
                        location = (await browser.get(flow["url"])).headers["Location"]
                    q = parse_qs(urlsplit(location).query)
                    await call(
                        "POST",
                        f"/v1/auth/login/{flow['state']}/code",
                        json={"code": f"{q['code'][0]}#{flow['state']}"},
                        headers=GOOD,
                    )
                    await call("GET", f"/v1/auth/login/{flow['state']}", headers=GOOD)
                cookie = cto.add_account("leak@example.com")
                await call(
                    "POST",
                    "/v1/auth/ctonew",
                    json={"cookie": "__client=not-a-real-one"},
                    headers=GOOD,
                )
                await call("POST", "/v1/auth/ctonew", json={"cookie": cookie}, headers=GOOD)
                await call("GET", "/v1/auth/credentials", headers=GOOD)
                claude.revoke_access()  # forces a 401 and a refresh on the next Claude call
                async with anthropic.AsyncAnthropic(
                    base_url=router.url, api_key=CLIENT_KEY, max_retries=0
                ) as c:
                    bodies.append(
                        (
                            await c.messages.create(
                                model="claude-x-test",
                                max_tokens=5,
                                messages=[{"role": "user", "content": "hi"}],
                            )
                        ).model_dump_json()
                    )
                async with openai.AsyncOpenAI(
                    base_url=f"{router.url}/v1", api_key=CLIENT_KEY, max_retries=0
                ) as c:
                    bodies.append(
                        (await c.responses.create(model="gpt-5", input="hi")).model_dump_json()
                    )
                    bodies.append(
                        (
                            await c.chat.completions.create(
                                model="glm-5.1", messages=[{"role": "user", "content": "hi"}]
                            )
                        ).model_dump_json()
                    )
                await call("GET", "/v1/auth/credentials", headers=GOOD)
        finally:
            assert await router.stop() == 0
        secrets = [CLIENT_KEY, MANAGEMENT_KEY, *claude.secrets(), *codex.secrets(), *cto.secrets()]
        assert claude.refresh_calls == 1 and len(secrets) > 10
        haystacks = {"log": router.output(), **{f"body {i}": b for i, b in enumerate(bodies)}}
        for where, text in haystacks.items():
            for secret in secrets:
                assert secret not in text, f"a secret leaked into the {where}"
        assert "credential refreshed" in router.output()
