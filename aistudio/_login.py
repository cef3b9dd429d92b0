"""Signing a profile in: a visible browser on the AI Studio page, until the user is in.

Used by ``python -m aistudio login --profile NAME`` and by ``auth_request``
frames. It needs a display (a desktop, or ``xvfb-run``); without one it
says so instead of hanging. It waits, bounded, until the page is the chat
page with its prompt box (not the sign-in host), then saves the storage
state as ``aistudio-<profile>.json``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from suite.logging import get_logger

from ._engines import Engine, has_display
from ._profiles import ProfileStore, valid_profile_name
from ._settings import Settings

__all__ = ["LoginFailed", "login"]

log = get_logger("aistudio.login")
_POLL = 0.5
_CLOSE_SECONDS = 10.0


class LoginFailed(Exception):
    """Why no profile was saved, in one line."""


async def _signed_in(page: Page, settings: Settings) -> bool:
    host = urlsplit(page.url).hostname or ""
    if host in settings.page.signin_hosts:
        return False
    target = urlsplit(settings.page.url)
    if host != target.hostname:
        return False
    try:
        return await page.locator(settings.page.selectors.prompt).first.is_visible()
    except PlaywrightError:
        return False


async def login(settings: Settings, store: ProfileStore, engine: Engine, profile: str) -> Path:
    """Open a visible browser, wait for sign-in (``settings.login_timeout``), save the profile."""
    if not valid_profile_name(profile):
        raise LoginFailed(f"invalid profile name {profile!r}")
    if not has_display():
        raise LoginFailed(
            "login opens a visible browser and needs a display: run it on a desktop, "
            "over ssh -X, or under xvfb-run with a VNC viewer"
        )
    browser = await engine.start(headless=False)
    try:
        existing: Any = store.load(profile)
        context = await browser.new_context(storage_state=existing)
        page = await context.new_page()
        log.info("login: waiting for sign-in", profile=profile, timeout=settings.login_timeout)
        try:
            await page.goto(settings.page.url, wait_until="domcontentloaded")
        except PlaywrightError as exc:
            raise LoginFailed(
                f"could not open {settings.page.url}: {str(exc).splitlines()[0]}"
            ) from None
        deadline = time.monotonic() + settings.login_timeout
        while not await _signed_in(page, settings):
            if time.monotonic() >= deadline:
                raise LoginFailed(f"not signed in within {settings.login_timeout:g}s")
            if page.is_closed():
                raise LoginFailed("the login window was closed before sign-in finished")
            await asyncio.sleep(_POLL)
        state = await context.storage_state()
        path = store.save(profile, dict(state))
        log.info("login: profile saved", profile=profile, path=str(path))
        return path
    finally:
        try:
            async with asyncio.timeout(_CLOSE_SECONDS):
                await browser.close()
        except (PlaywrightError, TimeoutError):
            pass  # a browser that will not close goes down with the engine
