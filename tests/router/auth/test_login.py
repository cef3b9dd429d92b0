"""Sign-in end to end: callback listener and paste mode for Claude and Codex, the cto.new cookie.

The "browser" is an HTTP client following the fake authorize endpoint's
redirect; the credentials land in the store and serve requests at once.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anthropic
import httpx
import openai
import pytest
import yaml

from router.api import STATE
from router.auth import FileStore, LoginError, login_command, parse_pasted_code
from tests.fakes import FakeAnthropic, FakeOpenAI, Reply
from tests.fakes.ctonew import FakeCtoNew
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    MANAGEMENT_KEY,
    ROOT,
    config,
    provider_configs,
    raw_config,
    wait_for,
)

MGMT = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


async def _browser(url: str, *, follow: bool) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, follow_redirects=follow) as http:
        return await http.get(url)


def _fakes(provider: str) -> tuple[FakeOAuth, FakeAnthropic | FakeOpenAI]:
    return FakeOAuth(provider), (FakeAnthropic() if provider == "claude" else FakeOpenAI())


async def _ask(router_url: str, provider: str) -> str:
    if provider == "claude":
        async with anthropic.AsyncAnthropic(
            base_url=router_url, api_key=CLIENT_KEY, max_retries=0
        ) as c:
            msg = await c.messages.create(
                model="claude-x-test", max_tokens=9, messages=[{"role": "user", "content": "hi"}]
            )
            return msg.content[0].text
    async with openai.AsyncOpenAI(
        base_url=f"{router_url}/v1", api_key=CLIENT_KEY, max_retries=0
    ) as c:
        resp = await c.responses.create(model="gpt-5", input="hi")
        return resp.output_text


@pytest.mark.parametrize("provider", ["claude", "codex"])
@pytest.mark.parametrize("mode", ["callback", "paste"])
async def test_management_login_then_request(
    start_router, tmp_path: Path, provider: str, mode: str
) -> None:
    oauth, api = _fakes(provider)
    async with oauth, api:
        api.api_keys = oauth.access
        api.default = Reply(text=f"signed in to {provider}")
        kw = (
            {"claude": oauth, "anthropic": api}
            if provider == "claude"
            else {"codex": oauth, "openai": api}
        )
        r = await start_router(
            config(provider_configs(**kw), {"dir": str(tmp_path / "auth")}, api_keys=[CLIENT_KEY])
        )
        async with httpx.AsyncClient(base_url=r.url, headers=MGMT, timeout=10) as http:
            started = await http.post("/v1/auth/login", json={"provider": provider, "mode": mode})
            assert started.status_code == 201, started.text
            flow = started.json()
            assert set(flow) >= {"url", "state"} and flow["status"] == "pending"
            query = parse_qs(urlsplit(flow["url"]).query)
            assert query["code_challenge_method"] == ["S256"] and query["state"] == [flow["state"]]
            if mode == "callback":
                page = await _browser(flow["url"], follow=True)
                assert page.status_code == 200 and "Signed in" in page.text
            else:
                redirect = (await _browser(flow["url"], follow=False)).headers["Location"]
                if provider == "claude":  # the code page shows CODE#STATE
                    q = parse_qs(urlsplit(redirect).query)
                    pasted = f"{q['code'][0]}#{q['state'][0]}"
                else:  # the user copies the failing localhost URL
                    pasted = redirect
                done = await http.post(
                    f"/v1/auth/login/{flow['state']}/code", json={"code": pasted}
                )
                assert done.status_code == 200, done.text
            status = (await http.get(f"/v1/auth/login/{flow['state']}")).json()
            assert status["status"] == "done" and status["account"] == "user@example.com"
            listed = (await http.get("/v1/auth/credentials")).json()["credentials"]
        assert [c["name"] for c in listed] == [f"{provider}-user@example.com"]
        assert await _ask(r.url, provider) == f"signed in to {provider}"
        path = tmp_path / "auth" / f"{provider}-user@example.com.json"
        assert path.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "auth").stat().st_mode & 0o777 == 0o700
        wire = oauth.requests[0]
        assert wire[1] == (
            "application/json" if provider == "claude" else "application/x-www-form-urlencoded"
        )


async def test_state_mismatch_is_refused(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        r = await start_router(
            config(provider_configs(claude=oauth, anthropic=api), {"dir": str(tmp_path / "a")})
        )
        async with httpx.AsyncClient(base_url=r.url, headers=MGMT, timeout=10) as http:
            flow = (
                await http.post("/v1/auth/login", json={"provider": "claude", "mode": "paste"})
            ).json()
            redirect = (await _browser(flow["url"], follow=False)).headers["Location"]
            code = parse_qs(urlsplit(redirect).query)["code"][0]
            wrong = await http.post(
                f"/v1/auth/login/{flow['state']}/code", json={"code": f"{code}#not-the-state"}
            )
            assert wrong.status_code == 400 and "state mismatch" in wrong.json()["error"]["message"]
            no_state = await http.post(f"/v1/auth/login/{flow['state']}/code", json={"code": code})
        assert no_state.status_code == 200 and no_state.json()["status"] == "done"
    assert oauth.exchange_calls == 1  # the mismatched code never reached the token endpoint


def test_parse_pasted_code_forms() -> None:
    assert parse_pasted_code(" abc#xyz ") == ("abc", "xyz")
    assert parse_pasted_code("http://localhost:1455/auth/callback?code=c1&state=s1") == ("c1", "s1")
    assert parse_pasted_code("?code=c2&state=s2") == ("c2", "s2")
    assert parse_pasted_code("just-a-code") == ("just-a-code", None)
    with pytest.raises(LoginError):
        parse_pasted_code("http://localhost/cb?error=access_denied&state=x&code=")


async def test_ctonew_cookie_upload_is_validated_at_once(start_router, tmp_path: Path) -> None:
    async with FakeCtoNew() as cto:
        cookie = cto.add_account("cto@example.com")
        r = await start_router(
            config(
                provider_configs(cto=cto), {"dir": str(tmp_path / "auth")}, api_keys=[CLIENT_KEY]
            )
        )
        async with httpx.AsyncClient(base_url=r.url, headers=MGMT, timeout=10) as http:
            bad = await http.post("/v1/auth/ctonew", json={"cookie": "__client=nonsense"})
            good = await http.post(
                "/v1/auth/ctonew", json={"cookie": f"Cookie: other=1; __client={cookie}; x=2"}
            )
        assert bad.status_code == 400 and "refused" in bad.json()["error"]["message"]
        assert good.status_code == 201 and good.json()["account"] == "cto@example.com"
        stored = await FileStore(tmp_path / "auth").get("ctonew-cto@example.com")
        assert stored is not None and stored.client_cookie == cto.live_cookie()  # the rotated one
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as c:
            out = await c.chat.completions.create(
                model="glm-5.1", messages=[{"role": "user", "content": "hi"}]
            )
        assert out.choices[0].message.content == "Hello from cto.new"


@pytest.mark.parametrize("provider", ["claude", "codex"])
async def test_cli_login_with_callback_listener(tmp_path: Path, provider: str) -> None:
    oauth, api = _fakes(provider)
    async with oauth, api:
        kw = (
            {"claude": oauth, "anthropic": api}
            if provider == "claude"
            else {"codex": oauth, "openai": api}
        )
        cfg = config(provider_configs(**kw), {"dir": str(tmp_path / "auth")})
        out = io.StringIO()
        task = asyncio.ensure_future(
            asyncio.to_thread(login_command, cfg, provider, timeout=20, out=out)
        )
        await wait_for(lambda: "http://127.0.0.1" in out.getvalue(), what="the printed URL")
        url = next(
            line.strip() for line in out.getvalue().splitlines() if line.strip().startswith("http")
        )
        page = await _browser(url, follow=True)
        assert await asyncio.wait_for(task, 20) == 0, out.getvalue()
    assert page.status_code == 200
    text = out.getvalue()
    assert "Waiting for the browser" in text and f"saved to {tmp_path / 'auth'}" in text


async def test_cli_times_out_with_a_clear_message(tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        cfg = config(provider_configs(claude=oauth, anthropic=api), {"dir": str(tmp_path / "auth")})
        out = io.StringIO()
        code = await asyncio.to_thread(login_command, cfg, "claude", timeout=0.5, out=out)
    assert (
        code == 1
        and "no sign-in came back within" in out.getvalue()
        and "--paste" in out.getvalue()
    )


async def test_cli_paste_mode_process_feeds_a_running_router(start_router, tmp_path: Path) -> None:
    """``python -m router login codex --paste`` in its own process; the running router
    picks the new file up without a restart."""
    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.api_keys = oauth.access
        api.default = Reply(text="picked up")
        provs = provider_configs(codex=oauth, openai=api)
        r = await start_router(
            config(provs, {"dir": str(tmp_path / "auth")}, api_keys=[CLIENT_KEY])
        )
        cfg_path = tmp_path / "login.yaml"
        cfg_path.write_text(yaml.safe_dump(raw_config(provs, {"dir": str(tmp_path / "auth")})))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_")}
        proc = await asyncio.create_subprocess_exec(  # noqa: TID251
            sys.executable,
            "-m",
            "router",
            "login",
            "codex",
            "--paste",
            "--config",
            str(cfg_path),
            "--timeout",
            "20",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None and proc.stdin is not None
        url = ""
        while not url:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "login exited before printing the URL"
            if line.strip().startswith("http"):
                url = line.strip()
        redirect = (await _browser(url, follow=False)).headers["Location"]
        proc.stdin.write(redirect.encode() + b"\n")
        await proc.stdin.drain()
        rest, _ = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, rest.decode()
        assert "Credential saved to" in rest.decode()
        await wait_for(
            lambda: bool(r.app[STATE].current.table.servable), what="the router to pick it up"
        )
        assert await _ask(r.url, "codex") == "picked up"
