"""The browser pool: one browser, one context per profile, several pages per context.

A request takes a free page, uses it and gives it back; the page is then
reset to a new chat before anyone else gets it. A page that crashed is
replaced; a browser that died is relaunched with every context. Pages idle
for ``idle_reload_seconds`` are reloaded, and each profile's storage state
is re-saved every ``save_interval_seconds`` so rotated cookies survive a
restart. No profile, no browser: the pool waits for a login.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext
from playwright.async_api import Error as PlaywrightError

from suite.logging import get_logger
from suite.relay_protocol import ProfileState
from suite.tasks import spawn

from ._driver import LoginRequired, PageBroken, PageDriver
from ._engines import Engine
from ._profiles import ProfileStore
from ._settings import Settings

__all__ = ["BrowserPool", "NoPage", "Slot"]

log = get_logger("aistudio.pool")
_REST_SECONDS = 60.0  # a profile that showed a quota toast gets no request for this long


class NoPage(Exception):
    """No page could be had: nothing signed in, or none free within the wait."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class Slot:
    profile: str
    driver: PageDriver
    busy: bool = False
    last_used: float = field(default_factory=time.monotonic)
    served: int = 0


@dataclass(eq=False)
class Profile:
    name: str
    context: BrowserContext | None = None
    slots: list[Slot] = field(default_factory=list)
    state: str = "starting"
    resting_until: float = 0.0

    def ready_slots(self) -> list[Slot]:
        return self.slots if self.state in ("ready", "rate_limited") else []


class BrowserPool:
    def __init__(
        self, settings: Settings, store: ProfileStore, engine: Engine, on_change: Callable[[], None]
    ) -> None:
        self.settings = settings
        self.store = store
        self.engine = engine
        self._on_change = on_change
        self.browser: Browser | None = None
        self.profiles: dict[str, Profile] = {}
        self._cond = asyncio.Condition()
        self._lock = asyncio.Lock()  # one (re)launch at a time
        self.restarts = 0
        self.replaced_pages = 0
        self.closed = False
        self._background: set[asyncio.Task[None]] = set()

    # -- what the outside sees -----------------------------------------------------

    def capacity(self) -> int:
        now = time.monotonic()
        return sum(len(p.ready_slots()) for p in self.profiles.values() if p.resting_until <= now)

    def free(self) -> int:
        now = time.monotonic()
        return sum(
            1
            for p in self.profiles.values()
            if p.resting_until <= now
            for s in p.ready_slots()
            if not s.busy
        )

    def busy(self) -> int:
        return sum(1 for p in self.profiles.values() for s in p.slots if s.busy)

    def states(self) -> list[ProfileState]:
        now = time.monotonic()
        out = []
        for p in self.profiles.values():
            state = p.state
            if state == "ready" and p.resting_until > now:
                state = "rate_limited"
            out.append(ProfileState(p.name, state))
        return out

    def _changed(self) -> None:
        self._on_change()

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Open every saved profile (up to ``max_instances``); none saved: no browser yet."""
        for name in self.store.names()[: self.settings.browser.max_instances]:
            await self.add_profile(name)

    async def _ensure_browser(self) -> Browser:
        async with self._lock:
            if self.browser is None or not self.browser.is_connected():
                self.browser = await self.engine.start(self.settings.browser.headless)
                self.browser.on("disconnected", self._on_browser_gone)
                log.info("browser started", engine=self.engine.name)
            return self.browser

    def _on_browser_gone(self, *_: object) -> None:
        if self.closed:
            return
        log.warning("browser went away; relaunching")
        self._in_background(self.restart_browser(), "aistudio-browser-restart")

    def _in_background(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Page resets and relaunches run as tasks the pool owns, so closing can let them
        finish (and cancel the late ones) before it closes the contexts they work in."""
        if self.closed:
            coro.close()
            return
        task = spawn(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def add_profile(self, name: str) -> Profile:
        """Open (or reopen) ``name``'s context and its pages."""
        old = self.profiles.get(name)
        if old is None and len(self.profiles) >= self.settings.browser.max_instances:
            raise NoPage(
                409, f"max_instances ({self.settings.browser.max_instances}) profiles already open"
            )
        if old is not None:
            await self._close_profile(old)
        prof = Profile(name)
        self.profiles[name] = prof
        state = self.store.load(name)
        if state is None:
            prof.state = "login_required"
            self._changed()
            return prof
        browser = await self._ensure_browser()
        prof.context = await browser.new_context(storage_state=state)  # type: ignore[arg-type]
        try:
            for _ in range(self.settings.browser.pages):
                prof.slots.append(await self._open_slot(prof))
            prof.state = "ready"
        except LoginRequired:
            prof.state = "login_required"
            log.warning("profile needs a new login", profile=name)
            await self._close_pages(prof)
        except (PlaywrightError, PageBroken) as exc:
            prof.state = "error"
            log.warning("profile could not open", profile=name, error=str(exc).splitlines()[0])
            await self._close_pages(prof)
        self._changed()
        async with self._cond:
            self._cond.notify_all()
        return prof

    async def _open_slot(self, prof: Profile) -> Slot:
        assert prof.context is not None
        page = await prof.context.new_page()
        driver = PageDriver(page, self.settings.page)
        if not self.closed:
            await driver.setup()
        if self.closed:  # no page is set up in a context that is closing
            raise PageBroken("the pool is closing")
        await driver.open()
        return Slot(prof.name, driver)

    async def _close_pages(self, prof: Profile) -> None:
        for slot in prof.slots:
            try:
                await slot.driver.page.close()
            except PlaywrightError:
                pass
        prof.slots = []

    async def _close_profile(self, prof: Profile) -> None:
        await self._close_pages(prof)
        if prof.context is not None:
            try:
                await prof.context.close()
            except PlaywrightError:
                pass
            prof.context = None

    async def restart_browser(self) -> None:
        """The browser died: launch a new one and reopen every profile."""
        if self.closed:
            return
        self.restarts += 1
        names = list(self.profiles)
        for prof in self.profiles.values():  # kept as "starting": requests wait for them
            for slot in prof.slots:
                slot.driver.crashed = True
            prof.slots, prof.context, prof.state = [], None, "starting"
        self._changed()
        async with self._lock:
            old, self.browser = self.browser, None
        if old is not None:
            try:
                await old.close()
            except PlaywrightError:
                pass
        for name in names:
            await self.add_profile(name)

    async def close(self) -> None:
        """Let page resets finish, save and close everything, within ``close_timeout``.

        A reset still opening a page when its context closes can leave both Playwright
        calls waiting on the driver for ever, so resets go first (each stops at its next
        step once ``closed`` is set). Whatever hangs, the bound holds and the engine (the
        Playwright driver, and with it the browser) is stopped, or its processes would
        outlive the pool; a service that cannot stop is worse than a missed last save.
        """
        self.closed = True
        limit = self.settings.browser.close_timeout
        try:
            if self._background:
                _, late = await asyncio.wait(self._background, timeout=limit / 2)
                for task in late:
                    task.cancel()
            async with asyncio.timeout(limit / 2):
                await self._close_all()
        except TimeoutError:
            log.warning("the browser did not close in time; stopping its driver", seconds=limit)
        finally:
            await self.engine.stop()

    async def _close_all(self) -> None:
        for prof in list(self.profiles.values()):
            try:
                await self._save(prof)
                await self._close_profile(prof)
            except (PlaywrightError, OSError) as exc:
                log.warning("closing a profile failed", profile=prof.name, error=str(exc))
        if self.browser is not None:
            try:
                await self.browser.close()
            except PlaywrightError:
                pass

    # -- taking and giving back pages -----------------------------------------------------

    def _pick(self, avoid: set[str]) -> Slot | None:
        now = time.monotonic()
        best: tuple[int, Slot] | None = None
        for prof in self.profiles.values():
            if prof.resting_until > now or prof.name in avoid:
                continue
            free = [s for s in prof.ready_slots() if not s.busy and not s.driver.crashed]
            if free and (best is None or len(free) > best[0]):
                best = (len(free), min(free, key=lambda s: s.last_used))
        return best[1] if best else None

    async def acquire(self, timeout: float, avoid: set[str] | None = None) -> Slot:
        """A free page (the profile with most free pages first); waits up to ``timeout``."""
        avoid = avoid or set()
        deadline = time.monotonic() + timeout
        async with self._cond:
            while True:
                eligible = [p for p in self.profiles.values() if p.name not in avoid]
                if all(p.state in ("login_required", "error") for p in eligible):
                    raise NoPage(503, "no profile signed in: run login")
                slot = self._pick(avoid)
                if slot is not None:
                    slot.busy = True
                    slot.last_used = time.monotonic()
                    self._changed()
                    return slot
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NoPage(503, f"no page became free within {timeout:g}s")
                try:
                    await asyncio.wait_for(self._cond.wait(), timeout=min(left, 1.0))
                except TimeoutError:
                    continue

    def give_back(self, slot: Slot) -> None:
        """Reset the page to a new chat in the background (it stays busy until then), so the
        reload is never on a request's latency path and a cancelled request cannot cut it short."""
        self._in_background(self.release(slot), "aistudio-page-reset")

    async def release(self, slot: Slot) -> None:
        """Reset the page to a new chat, then hand it to the next request."""
        prof = self.profiles.get(slot.profile)
        try:
            if prof is None or slot not in prof.slots or self.closed:
                return
            if slot.driver.crashed:
                await self._replace(prof, slot)
                return
            try:
                await slot.driver.open()
            except LoginRequired:
                prof.state = "login_required"
                log.warning("profile signed out", profile=prof.name)
            except (PlaywrightError, PageBroken):
                await self._replace(prof, slot)
        finally:
            slot.busy = False
            slot.served += 1
            slot.last_used = time.monotonic()
            self._changed()
            async with self._cond:
                self._cond.notify_all()

    async def replace(self, slot: Slot) -> None:
        """A page broke mid-request: put a new one in its place (the caller released nothing)."""
        prof = self.profiles.get(slot.profile)
        if prof is not None and slot in prof.slots:
            await self._replace(prof, slot)
        slot.busy = False
        self._changed()
        async with self._cond:
            self._cond.notify_all()

    async def _replace(self, prof: Profile, slot: Slot) -> None:
        self.replaced_pages += 1
        try:
            await slot.driver.page.close()
        except PlaywrightError:
            pass
        if self.closed:
            return
        if prof.context is None or self.browser is None or not self.browser.is_connected():
            return  # the browser restart reopens every page
        try:
            fresh = await self._open_slot(prof)
        except (PlaywrightError, PageBroken, LoginRequired) as exc:
            log.warning("page could not be replaced", profile=prof.name, error=str(exc)[:200])
            if slot in prof.slots:
                prof.slots.remove(slot)
            return
        if slot in prof.slots:
            prof.slots[prof.slots.index(slot)] = fresh
        log.info("page replaced", profile=prof.name)

    def rest(self, profile: str, seconds: float = _REST_SECONDS) -> None:
        prof = self.profiles.get(profile)
        if prof is not None:
            prof.resting_until = time.monotonic() + seconds
            self._changed()

    def login_required(self, profile: str) -> None:
        prof = self.profiles.get(profile)
        if prof is not None:
            prof.state = "login_required"
            self._changed()

    # -- upkeep -------------------------------------------------------------------------------

    async def _save(self, prof: Profile) -> None:
        if prof.context is None or prof.state not in ("ready", "rate_limited"):
            return
        try:
            state = await prof.context.storage_state()
        except PlaywrightError:
            return
        self.store.save(prof.name, dict(state))

    async def maintain(self) -> None:
        """Idle reloads and periodic profile saves; runs until the pool closes."""
        b = self.settings.browser
        last_save = time.monotonic()
        tick = min(5.0, b.idle_reload_seconds, b.save_interval_seconds)
        while not self.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for prof in list(self.profiles.values()):
                for slot in list(prof.ready_slots()):
                    if not slot.busy and now - slot.last_used >= b.idle_reload_seconds:
                        slot.busy = True
                        await self.release(slot)  # release = reload to a fresh chat
            if now - last_save >= b.save_interval_seconds:
                last_save = now
                for prof in list(self.profiles.values()):
                    await self._save(prof)
