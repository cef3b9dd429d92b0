"""Login: a headful Chromium under Xvfb signs in on the fake sign-in page; then used headless."""

from __future__ import annotations

import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import openai
import pytest

from aistudio import ChromiumEngine, LoginFailed, ProfileStore, login
from suite.config import Environment

from .conftest import MODEL, MakeStack, chromium_path, wait_until


@pytest.fixture
def xvfb(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    binary = shutil.which("Xvfb")
    if binary is None:
        msg = "Debian's xvfb is not installed (make test installs it as root: apt-get install xvfb)"
        if Environment.read().ci:
            pytest.fail(msg)
        pytest.skip(msg)
    for number in range(90, 110):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen(
            [binary, f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not Path(f"/tmp/.X11-unix/X{number}").exists():
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            monkeypatch.setenv("DISPLAY", f":{number}")
            try:
                yield f":{number}"
            finally:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
            return
    pytest.fail("could not start Xvfb on any display :90-:109")


async def test_login_headful_saves_a_private_profile_then_serves_headless(
    make_stack: MakeStack, xvfb: str
) -> None:
    stack = await make_stack(profiles=(), services=0)
    stack.site.auto_signin_ms = 300  # the "user" clicks Next on the sign-in page
    engine = ChromiumEngine(chromium_path(), stack.settings.browser.args)
    store = ProfileStore(stack.auth_dir)
    try:
        path = await login(stack.settings, store, engine, "alice")
    finally:
        await engine.stop()
    assert path == stack.auth_dir / "aistudio-alice.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert any(
        c["name"] == "SID" and c["value"] in stack.site.sessions
        for c in store.load("alice")["cookies"]
    )
    svc = await stack.add_service()  # headless, from the saved profile
    assert svc.settings.browser.headless is True
    assert await wait_until(lambda: svc.pool is not None and svc.pool.capacity() > 0, 20)
    client = openai.AsyncOpenAI(base_url=stack.router.url + "/v1", api_key="x", max_retries=0)
    try:
        done = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}]
        )
    finally:
        await client.close()
    assert done.choices[0].message.content == "Hello from the fake AI Studio page."


async def test_login_through_the_router_management_api(make_stack: MakeStack, xvfb: str) -> None:
    stack = await make_stack(profiles=(), services=1, management_key="mgmt-0123456789abcdef")
    stack.site.auto_signin_ms = 200
    svc = stack.services[0]
    assert await wait_until(lambda: svc.relay.connected and bool(stack.hub().peers), 10)
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            stack.router.url + "/v1/auth/aistudio/login",
            json={"profile": "bob", "timeout_seconds": 60},
            headers={"Authorization": "Bearer mgmt-0123456789abcdef"},
        )
        assert r.status == 200, await r.text()
        assert await r.json() == {"profile": "bob", "ok": True, "error": ""}
    assert (stack.auth_dir / "aistudio-bob.json").exists()
    assert await wait_until(lambda: sum(p.capacity for p in stack.hub().peers.values()) == 3, 20)
    assert svc.health()["detail"] == ""


async def test_login_without_a_display_says_so(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = await make_stack(profiles=(), services=0)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    engine = ChromiumEngine(chromium_path(), ())
    with pytest.raises(LoginFailed, match="needs a display"):
        await login(stack.settings, ProfileStore(stack.auth_dir), engine, "carol")
    await engine.stop()
