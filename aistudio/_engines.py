"""Browser engines behind one interface: Camoufox (production) and Chromium (Playwright).

Both hand out a Playwright ``Browser``; everything after launch (contexts,
pages, the driver) is shared. Camoufox's browser is fetched from GitHub by
``python -m camoufox fetch``, which these machines cannot reach, so its code
path here is launch options only; the Chromium engine runs the tests.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any, Protocol

from playwright.async_api import Browser, Playwright, async_playwright

from suite.config import Environment
from suite.logging import get_logger
from suite.proxies import Proxy

from ._settings import BrowserSettings

__all__ = [
    "CamoufoxEngine",
    "ChromiumEngine",
    "Engine",
    "EngineMissing",
    "choose_engine",
    "has_display",
    "launch_proxy",
]

log = get_logger("aistudio.engines")

_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class EngineMissing(Exception):
    """The configured browser is not installed; the message says how to fix it, in one line."""


class Engine(Protocol):
    name: str

    async def start(self, headless: bool) -> Browser: ...

    async def stop(self) -> None: ...


def has_display() -> bool:
    """Whether a visible browser can open now (``DISPLAY`` / ``WAYLAND_DISPLAY``)."""
    return bool(Environment.read().display)


def find_chromium(configured: str) -> str | None:
    if configured:
        return configured if shutil.which(configured) or _exists(configured) else None
    for name in _CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _exists(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_file()


class ChromiumEngine:
    """Playwright's Chromium driver with a system Chromium (``executable_path``), offline flags."""

    name = "chromium"

    def __init__(self, executable: str, args: tuple[str, ...], proxy: Proxy | None = None) -> None:
        self.executable = executable
        self.args = args
        self.proxy = proxy
        self._pw: Playwright | None = None

    async def start(self, headless: bool) -> Browser:
        if self._pw is None:
            self._pw = await async_playwright().start()
        return await self._pw.chromium.launch(
            executable_path=self.executable,
            headless=headless,
            args=list(self.args),
            **launch_proxy(self.proxy),
        )

    async def stop(self) -> None:
        if self._pw is not None:
            pw, self._pw = self._pw, None
            try:
                async with asyncio.timeout(15):
                    await pw.stop()
            except TimeoutError:
                log.warning("playwright did not stop within 15 s")


class CamoufoxEngine:
    """``AsyncCamoufox`` (a hardened Firefox through Playwright's Juggler protocol)."""

    name = "camoufox"

    def __init__(self, proxy: Proxy | None = None) -> None:
        self.proxy = proxy
        self._managers: list[Any] = []

    @staticmethod
    def check() -> None:
        """Raise ``EngineMissing`` unless the package and its browser are installed."""
        try:
            from camoufox.exceptions import CamoufoxNotInstalled, UnsupportedVersion
            from camoufox.pkgman import camoufox_path
        except ImportError:
            raise EngineMissing(
                "camoufox is not installed: run 'pip install camoufox' and "
                "'python -m camoufox fetch', or set providers.aistudio.browser.engine: chromium"
            ) from None
        try:
            camoufox_path(download_if_missing=False)
        except (CamoufoxNotInstalled, UnsupportedVersion, FileNotFoundError, OSError):
            raise EngineMissing(
                "the Camoufox browser is not installed: run 'python -m camoufox fetch', "
                "or set providers.aistudio.browser.engine: chromium"
            ) from None

    async def start(self, headless: bool) -> Browser:
        from camoufox.async_api import AsyncCamoufox

        manager = AsyncCamoufox(  # type: ignore[no-untyped-call]
            headless=headless, humanize=False, block_webrtc=True, **launch_proxy(self.proxy)
        )
        browser = await manager.__aenter__()
        self._managers.append(manager)
        if not isinstance(browser, Browser):  # persistent contexts are not used here
            raise EngineMissing("camoufox did not return a browser")
        return browser

    async def stop(self) -> None:
        managers, self._managers = self._managers, []
        for manager in managers:
            await manager.__aexit__(None, None, None)


def launch_proxy(proxy: Proxy | None) -> dict[str, Any]:
    """Playwright's launch option for ``proxy`` (none: {}). Its server takes no userinfo:
    the credentials go apart; ``socks5h`` is ``socks5`` to a browser, which always lets
    the proxy resolve names. (Chromium takes no SOCKS5 username/password.)"""
    if proxy is None:
        return {}
    scheme = "socks5" if proxy.scheme == "socks5h" else proxy.scheme
    option: dict[str, str] = {"server": f"{scheme}://{proxy.address}"}
    if proxy.username:
        option |= {"username": proxy.username, "password": proxy.password}
    return {"proxy": option}


def choose_engine(settings: BrowserSettings, proxy: Proxy | None = None) -> Engine:
    """The engine for ``settings.engine``; ``auto`` prefers Camoufox when its browser is there.
    ``proxy``: the browser's way out (``Settings.proxy``)."""
    if settings.engine in ("camoufox", "auto"):
        try:
            CamoufoxEngine.check()
            return CamoufoxEngine(proxy)
        except EngineMissing:
            if settings.engine == "camoufox":
                raise
    chromium = find_chromium(settings.executable_path)
    if chromium is None:
        where = settings.executable_path or "on PATH (chromium, google-chrome)"
        raise EngineMissing(
            f"no Chromium found {where}: install it (Debian: apt-get install chromium), "
            "or set providers.aistudio.browser.executable_path, or use engine camoufox"
        )
    return ChromiumEngine(chromium, settings.args, proxy)
