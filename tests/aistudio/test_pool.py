"""The browser pool: pages in parallel, waiting for a free page, crashes, profiles, upkeep."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
import time

import openai
import psutil

from tests.fakes.aistudio_site import Answer

from .conftest import MODEL, MakeStack, Stack, wait_until

SLOW = Answer(text=" ".join(f"w{i}" for i in range(20)), delay=0.08)  # ~1.6 s of rendering


async def ask(stack: Stack, prompt: str = "hi") -> tuple[str, float]:
    """The answer, and the wall-clock time it was complete."""
    client = openai.AsyncOpenAI(base_url=stack.router.url + "/v1", api_key="x", max_retries=0)
    try:
        done = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}]
        )
    finally:
        await client.close()
    return done.choices[0].message.content or "", time.time()


async def capacity(stack: Stack, n: int) -> None:
    hub = stack.hub()
    assert await wait_until(lambda: sum(p.capacity for p in hub.peers.values()) == n, 20)


async def test_three_pages_answer_three_requests_in_parallel_and_a_fourth_waits(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(pages=3, instances=1, default=SLOW)
    await capacity(stack, 3)
    began = time.time()
    one, end = await ask(stack)
    single = end - began
    assert one == SLOW.text
    pool = stack.services[0].pool
    assert pool is not None
    assert await wait_until(lambda: pool.free() == 3, 10)  # the used page is reset again
    began = time.time()
    results = await asyncio.gather(*(ask(stack, f"q{i}") for i in range(4)))
    assert all(text == SLOW.text for text, _ in results)
    ends = sorted(t for _, t in results)
    starts = sorted(c.at for c in stack.site.calls[-4:])
    # Three pages at once: three answers in about one answer's time (in turn: three times).
    assert ends[2] - began < single * 2.0, (single, [e - began for e in ends])
    assert starts[2] - starts[0] < single * 0.5
    # The fourth waited for a free page: the page began it only after an answer was complete.
    assert starts[3] >= ends[0] - 0.05, (starts, ends)


def chromium_browsers() -> list[psutil.Process]:
    """This test process's Chromium browser processes (not renderers or helpers)."""
    out = []
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if "chrom" in p.name() and not any(a.startswith("--type=") for a in p.cmdline()):
                out.append(p)
        except psutil.Error:
            continue
    return out


async def test_killed_browser_is_replaced_and_the_request_retried(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1)
    await capacity(stack, 1)
    stack.site.enqueue(Answer(text="after the crash", delay_before=3.0))
    pending = asyncio.ensure_future(ask(stack))
    assert await wait_until(lambda: len(stack.site.calls) == 1, 10)  # the page is working on it
    browsers = chromium_browsers()
    assert len(browsers) == 1
    browsers[0].kill()
    text, _ = await asyncio.wait_for(pending, 30)
    # Nothing had been streamed: the request was retried on the relaunched browser.
    assert text == "Hello from the fake AI Studio page."
    assert len(stack.site.calls) == 2
    health = stack.services[0].health()
    assert health["browser"]["restarts"] == 1 and health["browser"]["up"] is True
    assert (await ask(stack))[0] == "Hello from the fake AI Studio page."  # and the next one


async def test_signed_out_profile_is_login_required(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=2, profiles=("work", "home"), services=0)
    stack.site.sign_out_everyone()
    stack.site.sessions.add("keep")
    stack.auth_dir.joinpath("aistudio-home.json").write_text(
        __import__("json").dumps(stack.site.storage_state("keep"))
    )
    svc = await stack.add_service()
    states = {p["name"]: p["state"] for p in svc.health()["profiles"]}
    assert states == {"home": "ready", "work": "login_required"}
    await capacity(stack, 1)
    hub = stack.hub()
    peer = next(iter(hub.peers.values()))
    assert {p.name: p.state for p in peer.profiles} == states
    assert (await ask(stack))[0] == "Hello from the fake AI Studio page."


async def test_no_profile_serves_nothing_and_says_run_login(make_stack: MakeStack) -> None:
    stack = await make_stack(profiles=(), services=1)
    svc = stack.services[0]
    assert await wait_until(lambda: svc.relay.connected, 10)
    health = svc.health()
    assert health["detail"] == "no profile signed in: run login"
    assert health["browser"]["up"] is False  # no browser until a profile exists
    client = openai.AsyncOpenAI(base_url=stack.router.url + "/v1", api_key="x", max_retries=0)
    try:
        try:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}]
            )
        except openai.APIStatusError as err:
            assert err.status_code == 503 and "run login" in str(err)
        else:
            raise AssertionError("served without a profile")
    finally:
        await client.close()


async def test_idle_pages_reload_and_profiles_are_resaved(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1, services=0)
    base = stack.settings
    browser = dataclasses.replace(base.browser, idle_reload_seconds=0.5, save_interval_seconds=0.5)
    path = stack.auth_dir / "aistudio-default.json"
    before = path.stat().st_mtime_ns
    await stack.add_service(browser=browser)
    loads = len(stack.site.of_type("loaded"))
    assert await wait_until(lambda: len(stack.site.of_type("loaded")) >= loads + 2, 15)
    assert await wait_until(lambda: path.stat().st_mtime_ns != before, 15)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = __import__("json").loads(path.read_text())
    assert any(c["name"] == "SID" for c in saved["cookies"])
    assert (await ask(stack))[0] == "Hello from the fake AI Studio page."


async def test_stopping_lets_a_page_reset_finish_and_opens_no_page_after(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(pages=1, instances=1)
    await capacity(stack, 1)
    svc = stack.services[0]
    pool = svc.pool
    assert pool is not None
    stack.site.chat_delay = 2.0  # the reset after the answer takes 2 s to load
    before = stack.site.chat_loads
    assert (await ask(stack))[0] == "Hello from the fake AI Studio page."
    # The page is being reset to a new chat in the background: its load is at the site.
    assert await wait_until(lambda: stack.site.chat_loads > before and pool.busy() == 1, 10)
    loads = stack.site.chat_loads
    began = time.monotonic()
    await stack.stop_service(svc)
    took = time.monotonic() - began
    # The reset was allowed to finish: the page was not closed under it (which made the
    # reset replace it with a new page in a context that was closing), and nothing new
    # was opened once stopping began.
    assert pool.replaced_pages == 0
    assert stack.site.chat_loads == loads
    assert took < svc.settings.browser.close_timeout + 15, took
    assert chromium_browsers() == []


async def test_stopping_is_bounded_when_the_browser_is_frozen(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1, services=0)
    browser = dataclasses.replace(stack.settings.browser, close_timeout=2.0)
    svc = await stack.add_service(browser=browser)
    await capacity(stack, 1)
    (frozen,) = chromium_browsers()
    frozen.suspend()  # answers nothing: saving the profile and closing the context hang
    try:
        began = time.monotonic()
        await asyncio.wait_for(stack.stop_service(svc), 30)
        took = time.monotonic() - began
    finally:
        if frozen.is_running():
            frozen.resume()
    assert took < 2.0 + 15 + 5, took  # close_timeout, then stopping the driver (≤ 15 s)
    assert await wait_until(lambda: not frozen.is_running(), 10)  # the driver took it down
