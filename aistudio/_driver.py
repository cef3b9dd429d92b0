"""Driving one AI Studio page: open, pick the model, fill, run, stream, stop.

The driver knows the page only through ``PageSettings`` (URL, selectors),
so the same code drives the real site and the fake one in the tests. Text
arrives through the injected observer (``_observer``) as the page renders
it; a slow poll of the same check is the fallback if a mutation is missed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from ._gemini import Job, RequestError
from ._observer import BINDING, CHECK, OBSERVER_JS
from ._settings import PageSettings

__all__ = ["Delta", "LoginRequired", "PageBroken", "PageDriver"]

_STOP_WAIT_MS = 5000  # how long a cancelled page may take to wind down

_POLL = 1.0  # fallback check while waiting for the observer


class LoginRequired(Exception):
    """The page landed on the sign-in page: the profile's session is gone."""


class PageBroken(Exception):
    """The page or its browser crashed or closed; the pool replaces it."""


@dataclass(frozen=True, slots=True)
class Delta:
    kind: str  # text | thinking
    text: str


def _broken(exc: PlaywrightError) -> bool:
    msg = str(exc).lower()
    return any(w in msg for w in ("closed", "crash", "disconnected", "target", "detached"))


async def _press(button: Locator) -> None:
    """Click through the DOM: Playwright's click waits for two animation frames to call the
    element stable, and pages the user does not look at get few frames (seconds, with
    several pages), which would serialise the pool."""
    await button.evaluate("(el) => el.click()")


class PageDriver:
    """One page of one profile's context."""

    def __init__(self, page: Page, settings: PageSettings) -> None:
        self.page = page
        self.settings = settings
        self._rid = ""
        self._events: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.crashed = False
        page.on("crash", self._on_crash)
        page.on("close", self._on_crash)

    def _on_crash(self, *_: object) -> None:
        self.crashed = True
        self._events.put_nowait({"kind": "broken", "text": "page crashed or closed"})

    async def setup(self) -> None:
        await self.page.expose_binding(BINDING, self._on_binding)

    def _on_binding(self, source: Any, payload: Any) -> None:
        if not isinstance(payload, dict) or payload.get("rid") != self._rid:
            return
        for ev in payload.get("events") or []:
            if isinstance(ev, dict):
                self._events.put_nowait({"kind": str(ev.get("kind")), "text": str(ev.get("text"))})

    # -- navigation ----------------------------------------------------------------

    def on_signin(self) -> bool:
        host = urlsplit(self.page.url).hostname or ""
        return host in self.settings.signin_hosts

    async def open(self) -> None:
        """Load the chat page; ``LoginRequired`` if it redirects to sign-in."""
        s = self.settings
        try:
            await self.page.goto(
                s.url, wait_until="domcontentloaded", timeout=s.load_timeout * 1000
            )
            if self.on_signin():
                raise LoginRequired(self.page.url)
            await self.page.locator(s.selectors.prompt).first.wait_for(
                state="visible", timeout=s.load_timeout * 1000
            )
        except PlaywrightError as exc:
            if self.on_signin():
                raise LoginRequired(self.page.url) from None
            if self.crashed or _broken(exc):
                raise PageBroken(str(exc)) from None
            raise

    async def current_model(self) -> str:
        label = self.page.locator(self.settings.selectors.model_name).first
        try:
            text = await label.inner_text(timeout=2000)
        except PlaywrightError:
            return ""
        return text.strip().removeprefix("models/")

    async def ensure_model(self, model: str) -> None:
        """Switch by the stored preference and reopening new_chat, as the site does."""
        if not model or await self.current_model() == model:
            return
        key = self.settings.model_storage_key
        await self.page.evaluate(
            """([key, model]) => {
                 let prefs = {};
                 try { prefs = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (e) {}
                 prefs.promptModel = "models/" + model;
                 localStorage.setItem(key, JSON.stringify(prefs));
               }""",
            [key, model],
        )
        await self.open()
        shown = await self.current_model()
        if shown != model:
            raise RequestError(
                404, f"model {model!r} is not available in AI Studio (page shows {shown!r})"
            )

    # -- one request ------------------------------------------------------------------

    async def _set_number(self, selector: str, value: float | int) -> None:
        box = self.page.locator(selector).first
        if await box.count() == 0:
            return
        await box.fill(str(value))
        await box.dispatch_event("change")
        await box.blur()

    async def _set_stops(self, stops: tuple[str, ...]) -> None:
        sel = self.settings.selectors
        remove = self.page.locator(sel.stop_chip_remove)
        for _ in range(20):  # bounded: at most this many old chips
            if await remove.count() == 0:
                break
            await _press(remove.first)
        box = self.page.locator(sel.stop_sequence).first
        if not stops or await box.count() == 0:
            return
        for stop in stops:
            await box.fill(stop)
            await box.press("Enter")

    async def _fill_prompt(self, text: str) -> None:
        await self.page.locator(self.settings.selectors.prompt).first.evaluate(
            """(el, text) => {
                 el.value = text;
                 el.dispatchEvent(new Event("input", {bubbles: true}));
                 el.dispatchEvent(new Event("change", {bubbles: true}));
               }""",
            text,
        )

    async def run(self, job: Job) -> AsyncIterator[Delta]:
        """Submit ``job`` and yield deltas as the page renders them."""
        sel = self.settings.selectors
        try:
            await self.ensure_model(job.model)
            self._rid = uuid.uuid4().hex
            self._events = asyncio.Queue()
            await self.page.evaluate(OBSERVER_JS, {"rid": self._rid, "sel": asdict(sel)})
            if job.temperature is not None:
                await self._set_number(sel.temperature, job.temperature)
            if job.top_p is not None:
                await self._set_number(sel.top_p, job.top_p)
            if job.max_tokens is not None:
                await self._set_number(sel.max_tokens, job.max_tokens)
            await self._set_stops(job.stop)
            await self._fill_prompt(job.prompt)
            run = self.page.locator(sel.run).first
            await run.wait_for(state="visible", timeout=10_000)
            await _press(run)
        except PlaywrightError as exc:
            if self.crashed or _broken(exc):
                raise PageBroken(str(exc)) from None
            raise RequestError(
                502, f"page did not take the prompt: {str(exc).splitlines()[0]}"
            ) from None
        async for delta in self._stream():
            yield delta

    async def _stream(self) -> AsyncIterator[Delta]:
        deadline = time.monotonic() + self.settings.generation_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestError(504, "the page did not finish its answer in time")
            try:
                ev = await asyncio.wait_for(self._events.get(), timeout=min(_POLL, left))
            except TimeoutError:
                await self._poll()
                continue
            kind, text = ev["kind"], ev["text"]
            if kind in ("text", "thinking"):
                yield Delta(kind, text)
            elif kind == "done":
                return
            elif kind == "broken":
                raise PageBroken(text)
            elif kind == "error":
                raise self._ui_error(text)

    async def _poll(self) -> None:
        if self.crashed:
            raise PageBroken("page crashed")
        try:
            await self.page.evaluate(CHECK)
        except PlaywrightError as exc:
            if _broken(exc):
                raise PageBroken(str(exc)) from None

    def _ui_error(self, text: str) -> RequestError:
        low = text.lower()
        if any(w in low for w in self.settings.quota_words):
            return RequestError(429, text)
        return RequestError(502, f"AI Studio: {text}")

    async def stop(self) -> None:
        """Press the stop button if the page is still generating (cancel), then wait (bounded)
        until the page says it has finished (the stop button goes away), so the page is not
        reset under a generation that is still winding down."""
        self._rid = ""
        try:
            stop = self.page.locator(self.settings.selectors.stop).first
            if await stop.count():
                await _press(stop)
                await stop.wait_for(state="hidden", timeout=_STOP_WAIT_MS)
        except PlaywrightError:
            pass  # a page that will not say it stopped is reset (or replaced) anyway
