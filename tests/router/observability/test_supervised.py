"""The suite under supervisord, two router workers: usage survives stop.sh and a restart,
``/metrics`` sums both workers, and the status page works in Debian's Chromium.

The fake upstreams run in a thread of this process (an event loop of their
own); the suite runs from a temp dir on a free port and is stopped, by pid,
whatever happens.
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import chromium_path
from tests.fakes import Fail, FakeOpenAI, Reply
from tests.fakes._base import FakeServer
from tests.ops.conftest import Suite, force_cleanup, make_suite, wait_for

from ._support import MANAGEMENT_KEY, MGMT, samples, value

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "logs" / "artifacts"
CLIENT_KEY = "sk-observability-suite-0001"
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
LOAD = 120  # requests; each on a new connection, so both workers serve
COOL = 24  # requests for the always-429 provider, all on one connection: one worker
PHONE = {"width": 390, "height": 844}


class FakesThread:
    """Fake upstreams served by an event loop in a daemon thread."""

    def __init__(self, *fakes: FakeServer) -> None:
        self.fakes = fakes
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="fakes", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        for fake in self.fakes:
            fake.record_requests = False
            await fake.start()
        self._ready.set()
        await self._stop.wait()
        for fake in self.fakes:
            await fake.close()

    def __enter__(self) -> FakesThread:
        self._thread.start()
        assert self._ready.wait(10), "the fakes did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self.loop.close()


@dataclass
class Running:
    suite: Suite
    sent: dict[str, int]


def _edit(ok: FakeServer, limited: FakeServer, base: Path):
    def edit(data: dict[str, Any]) -> None:
        data["server"].update(workers=2, api_keys=[CLIENT_KEY])
        data["logging"]["max_bytes"] = 4 * 1024 * 1024  # no rotation: the test counts lines
        data["management"] = {"key": MANAGEMENT_KEY}
        for prov in data["providers"].values():
            if prov.get("kind") in ("aistudio", "webai"):
                prov["enabled"] = False  # no browser pool in this test
        data["providers"]["obs-ok"] = {
            "kind": "openai-compatible",
            "base_url": ok.base_url,
            "api_keys": ["sk-upstream-ok-00000"],
            "models": ["obs-model"],
        }
        data["providers"]["obs-limited"] = {
            "kind": "openai-compatible",
            "base_url": limited.base_url,
            "api_keys": ["sk-upstream-limited-0"],
            "models": ["obs-cool"],
        }
        data["models"]["routing"][:0] = [
            {"pattern": "^obs-model$", "providers": ["obs-ok"]},
            {"pattern": "^obs-cool$", "providers": ["obs-limited"]},
        ]
        data["usage"] = {"path": str(base / "data" / "usage.sqlite3"), "retention_days": 30}

    return edit


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    ok = FakeOpenAI(default=Reply(text="fine thanks", usage=(3, 2)))
    limited = FakeOpenAI(default=Fail(429, retry_after=600))
    with FakesThread(ok, limited):
        base = tmp_path_factory.mktemp("observed")
        suite = make_suite(base, _edit(ok, limited, base))
        try:
            started = suite.run("start.sh")
            assert started.returncode == 0, started.stdout + started.stderr
            yield Running(suite, {})
        finally:
            force_cleanup(suite)


async def _load(url: str, plan: list[tuple[str, bool]]) -> dict[int, int]:
    """Bounded: 8 at a time, a 30 s cap; no keep-alive, so connections spread over workers."""
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=8)
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:

        async def one(model: str, stream: bool) -> None:
            body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            if stream:
                body.update(stream=True, stream_options={"include_usage": True})
            resp = await http.post(f"{url}/v1/chat/completions", json=body, headers=AUTH)
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1

        await asyncio.wait_for(asyncio.gather(*(one(m, s) for m, s in plan)), 30)
    return statuses


def _on_one_connection(url: str, model: str, n: int) -> dict[int, int]:
    """``n`` requests in turn on one kept-alive connection: one worker serves them all."""
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as http:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(n):
            code = http.post(f"{url}/v1/chat/completions", json=body, headers=AUTH).status_code
            statuses[code] = statuses.get(code, 0) + 1
    return statuses


def _cooling_by_worker(url: str) -> dict[int, bool]:
    """Each worker's /status.json (new connections until both answered): does it show
    the always-429 credential cooling?"""
    seen: dict[int, bool] = {}
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        for _ in range(40):
            doc = http.get(f"{url}/status.json", headers=MGMT).json()
            creds = [
                c for p in doc["providers"] if p["name"] == "obs-limited" for c in p["credentials"]
            ]
            seen[doc["router"]["pid"]] = any(
                c["state"] == "cooling" and c["wait_s"] > 0 for c in creds
            )
            if len(seen) == 2:
                break
    return seen


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT model, provider, status, tokens_in, tokens_out FROM cliproxy_usage"
        ).fetchall()


def test_usage_survives_stop_and_restart_and_metrics_sum_the_workers(running: Running) -> None:
    suite = running.suite
    plan = [("obs-model", i % 3 == 0) for i in range(LOAD)]
    assert asyncio.run(_load(suite.url, plan)) == {200: LOAD}
    logs = [suite.base / "logs" / f"router_0{i}.log" for i in range(2)]

    # Any worker answers the scrape for both (multiprocess mode); the other one's
    # numbers may be up to a second old (each folds its tally once a second).
    def scraped() -> dict[str, Any]:
        with httpx.Client(timeout=10) as http:
            return samples(http.get(f"{suite.url}/metrics").text)

    def complete() -> bool:
        m = scraped()
        return (
            value(m, "cliproxy_requests_total", model="obs-model", status="200") == LOAD
            and value(m, "cliproxy_tokens_total", provider="obs-ok", type="input") == 3 * LOAD
        )

    assert wait_for(complete, 5), scraped()
    assert all(complete() for _ in range(4))  # whichever worker answers

    def served() -> list[int]:  # access lines are written every 100 ms
        return [sum('"model":"obs-model"' in x for x in p.read_text().splitlines()) for p in logs]

    assert wait_for(lambda: sum(served()) == LOAD, 5), served()
    assert min(served()) > 0, served()  # both workers took a share

    stopped = suite.run("stop.sh")
    assert stopped.returncode == 0, stopped.stderr
    db = suite.base / "data" / "usage.sqlite3"
    rows = _rows(db)
    assert len(rows) == LOAD  # written by the workers' clean stop, none lost
    assert {r[:3] for r in rows} == {("obs-model", "obs-ok", 200)}

    again = suite.run("start.sh")
    assert again.returncode == 0, again.stderr
    with httpx.Client(timeout=10) as http:
        data = http.get(f"{suite.url}/v1/usage?group_by=model,provider", headers=MGMT).json()
        text = http.get(f"{suite.url}/v1/usage?group_by=provider&format=csv", headers=MGMT).text
    (row,) = data["rows"]
    assert (row["model"], row["provider"], row["requests"]) == ("obs-model", "obs-ok", LOAD)
    assert (row["tokens_in"], row["tokens_out"]) == (3 * LOAD, 2 * LOAD)
    assert list(csv.DictReader(io.StringIO(text)))[0]["requests"] == str(LOAD)
    running.sent["obs-model"] = LOAD


async def _browse(url: str, shot: Path) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        try:
            ctx = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
            page = await ctx.new_page()
            await page.goto(f"{url}/status")
            # Without the key: the sign-in and nothing else.
            assert await page.is_visible("#signin")
            assert await page.is_hidden("#dashboard")
            await page.fill("#key", "not-the-key")
            await page.click("#signin button")
            await page.wait_for_selector("#signin-error:not(:empty)", timeout=10000)
            assert await page.is_hidden("#dashboard")
            # With it: programs, credentials and charts.
            await page.fill("#key", MANAGEMENT_KEY)
            await page.click("#signin button")
            await page.wait_for_selector("body[data-loaded]", timeout=15000)
            await page.wait_for_selector("#programs [data-program]", timeout=10000)
            facts = await page.evaluate(
                """() => ({
                  programs: Object.fromEntries([...document.querySelectorAll('#programs [data-program]')]
                    .map((r) => [r.dataset.program, r.dataset.state])),
                  cooling: [...document.querySelectorAll('[data-credential][data-state="cooling"]')]
                    .map((c) => [c.dataset.credential, c.querySelector('.cooldown')?.textContent]),
                  bars: Number(document.querySelector('#chart-requests').dataset.bars),
                  total: Number(document.querySelector('#chart-requests').dataset.total),
                  tokenBars: Number(document.querySelector('#chart-tokens').dataset.bars),
                  signinHidden: document.querySelector('#signin').hidden,
                  width: document.documentElement.scrollWidth,
                })"""
            )
            await page.screenshot(path=str(shot), full_page=True)
            await page.screenshot(path=str(shot.with_name("status-phone-top.png")))
            return facts
        finally:
            await browser.close()


def test_status_page_in_chromium(running: Running, tmp_path: Path) -> None:
    suite = running.suite
    if "obs-model" not in running.sent:
        pytest.skip("needs the usage test's records (run the module)")
    assert _on_one_connection(suite.url, "obs-cool", COOL) == {429: COOL}

    def recorded() -> int:  # each worker writes its records within a second
        with httpx.Client(timeout=10) as http:
            got = http.get(f"{suite.url}/v1/usage?group_by=none", headers=MGMT).json()
        return int(got["total"]["requests"])

    assert wait_for(lambda: recorded() == LOAD + COOL, 5), recorded()
    # One worker saw the 429s; whichever worker answers, its page shows the cooldown
    # (each publishes its credential states every second for the others).
    looks: list[dict[int, bool]] = []

    def every_worker_shows_it() -> bool:
        looks.append(_cooling_by_worker(suite.url))
        return len(looks[-1]) == 2 and all(looks[-1].values())

    assert wait_for(every_worker_shows_it, 5), looks[-1]

    states: dict[str, str] = {}

    def all_running() -> bool:  # start.sh waits for health; RUNNING comes after startsecs
        with httpx.Client(timeout=10) as http:
            doc = http.get(f"{suite.url}/status.json", headers=MGMT).json()
        states.update({p["name"]: p["state"] for p in doc["supervisor"]["processes"]})
        wanted = ("router_00", "router_01", "healthcheck")
        return all(states.get(name) == "RUNNING" for name in wanted)

    assert wait_for(all_running, 15), states
    shot = tmp_path / "status-phone.png"
    facts = asyncio.run(_browse(suite.url, shot))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("status-phone.png", "status-phone-top.png"):  # kept for a look after the run
        shutil.copy(tmp_path / name, ARTIFACTS / name)

    assert facts["programs"]["router:router_00"] == "RUNNING"
    assert facts["programs"]["router:router_01"] == "RUNNING"
    assert facts["programs"]["healthcheck"] == "RUNNING"
    (cred, cooldown) = facts["cooling"][0]
    assert cred.startswith("obs-limited/key1-") and cooldown.startswith("cooldown ")
    assert facts["bars"] >= 1 and facts["total"] == LOAD + COOL
    assert facts["tokenBars"] >= 1
    assert facts["signinHidden"] is True
    assert facts["width"] <= PHONE["width"]  # nothing wider than a phone
    assert shot.stat().st_size > 10_000
