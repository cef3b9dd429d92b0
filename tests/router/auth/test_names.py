"""Credential and profile names through the management API: a trailing newline is not a
valid name, and an account whose email makes an awkward name still signs in."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from router.auth import InvalidName, check_name, record_name
from tests.fakes import FakeAnthropic, FakeOpenAI
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import MANAGEMENT_KEY, config, provider_configs

MGMT = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


def test_a_trailing_newline_is_not_a_name() -> None:
    with pytest.raises(InvalidName):
        check_name("claude-x\n")


@pytest.mark.parametrize(
    ("account", "name"),
    [("a..b@x.com", "claude-a__b@x.com"), ("x.json", "claude-x_json")],
)
def test_record_name_makes_an_account_valid(account: str, name: str) -> None:
    assert record_name("claude", account) == name


@pytest.mark.parametrize("action", ["delete", "disable", "enable"])
async def test_a_name_with_a_newline_is_refused_and_leaves_no_lock_file(
    start_router, tmp_path: Path, action: str
) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        auth = tmp_path / "auth"
        r = await start_router(
            config(provider_configs(claude=oauth, anthropic=api), {"dir": str(auth)})
        )
        async with httpx.AsyncClient(base_url=r.url, headers=MGMT, timeout=10) as http:
            path = "/v1/auth/credentials/claude-x%0A"
            if action == "delete":
                answer = await http.delete(path)
            else:
                answer = await http.post(f"{path}/{action}")
    assert answer.status_code == 400, answer.text
    assert "invalid credential name" in answer.text
    locks = auth / ".locks"
    assert not locks.exists() or sorted(p.name for p in locks.iterdir()) == []


async def test_an_aistudio_profile_with_a_newline_is_refused(start_router, tmp_path: Path) -> None:
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        r = await start_router(
            config(provider_configs(claude=oauth, anthropic=api), {"dir": str(tmp_path / "a")})
        )
        async with httpx.AsyncClient(base_url=r.url, headers=MGMT, timeout=10) as http:
            answer = await http.post(
                "/v1/auth/aistudio/login", json={"profile": "default\n", "timeout_seconds": 1}
            )
    assert answer.status_code == 400, answer.text
    assert "profile" in answer.text


@pytest.mark.parametrize("provider", ["claude", "codex"])
@pytest.mark.parametrize("mode", ["paste", "callback"])
async def test_an_email_that_is_no_valid_name_still_signs_in(
    start_router, tmp_path: Path, provider: str, mode: str
) -> None:
    oauth = FakeOAuth(provider, email="a..b@x.com")
    api = FakeAnthropic() if provider == "claude" else FakeOpenAI()
    async with oauth, api:
        kw = (
            {"claude": oauth, "anthropic": api}
            if provider == "claude"
            else {"codex": oauth, "openai": api}
        )
        r = await start_router(config(provider_configs(**kw), {"dir": str(tmp_path / "auth")}))
        async with httpx.AsyncClient(base_url=r.url, headers=MGMT, timeout=10) as http:
            started = await http.post("/v1/auth/login", json={"provider": provider, "mode": mode})
            assert started.status_code == 201, started.text
            flow = started.json()
            async with httpx.AsyncClient(timeout=10, follow_redirects=mode == "callback") as br:
                page = await br.get(flow["url"])  # the user signs in and approves
            if mode == "paste":
                q = parse_qs(urlsplit(page.headers["Location"]).query)
                done = await http.post(
                    f"/v1/auth/login/{flow['state']}/code",
                    json={"code": f"{q['code'][0]}#{q['state'][0]}"},
                )
                assert done.status_code == 200, done.text
            else:
                assert page.status_code == 200, page.text
            status = (await http.get(f"/v1/auth/login/{flow['state']}")).json()
            listed = (await http.get("/v1/auth/credentials")).json()["credentials"]
    assert status["status"] == "done", status
    assert status["name"] == f"{provider}-a__b@x.com" and status["account"] == "a..b@x.com"
    assert [c["name"] for c in listed] == [f"{provider}-a__b@x.com"]
    assert (tmp_path / "auth" / f"{provider}-a__b@x.com.json").exists()
