"""The Gemini web app (gemini.google.com) through ``gemini-webapi``, signed in by cookies.

Lifecycle: sign in at start (in the background, so the service answers
``/healthz`` at once), with automatic cookie refresh on (gemini-webapi rotates
``__Secure-1PSIDTS`` every ``refresh_interval``). Every rotated value, whether
from that refresh or from a ``Set-Cookie`` on any answer, is written back to
the cookie file after each request and every ``cookie_sync_seconds``, so a
restart signs in with the newest cookies.

A refused sign-in marks the cookies as needing renewal: ``/healthz`` turns
unhealthy, and requests fail fast with 401 until ``retry_seconds`` have passed
(the cookie file is read again on every new attempt, so renewed cookies are
picked up without a restart). Library errors are mapped here: auth → 401,
usage limit / temporarily blocked → 429, invalid model → 404, timeouts →
504, the rest → 502.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from suite.config import export_environment
from suite.files import private_dir
from suite.logging import get_logger
from suite.tasks import spawn

from ._chain import BackendHealth, Delta
from ._cookies import CookieStore, Secrets, SessionCookies
from ._errors import (
    AuthFailed,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelNotFound,
    RateLimited,
)
from ._messages import ChatRequest
from ._settings import PSID, PSIDTS, GeminiSettings

__all__ = ["GeminiWebBackend"]

log = get_logger("webai.gemini")

READY = "ready"
STARTING = "starting"
MISSING = "cookies missing"
RENEW = "cookies need renewing"
BLOCKED = "rate limited"
BROKEN = "error"
_COOKIE_STATE = {READY: "valid", MISSING: "missing", RENEW: "need renewing"}


class GeminiWebBackend:
    name = "gemini-web"

    def __init__(
        self, settings: GeminiSettings, store: CookieStore, cache_dir: Path, secrets: Secrets
    ) -> None:
        self.settings = settings
        self.store = store
        self.cache_dir = cache_dir
        self.secrets = secrets
        self._client: Any = None  # gemini_webapi.GeminiClient once signed in
        self._cookies: SessionCookies | None = None  # what the client holds, as last saved
        self._state = STARTING
        self._error: BackendError | None = None
        self._failed_at = 0.0
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The signed-in ``GeminiClient`` (None before sign-in): for diagnostics and tests."""
        return self._client

    async def start(self) -> None:
        _use_cache_dir(self.cache_dir)
        self._tasks.append(spawn(self._sign_in_at_start(), name="webai-gemini-sign-in"))
        self._tasks.append(spawn(self._sync_loop(), name="webai-gemini-cookie-sync"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        client, self._client = self._client, None
        if client is not None:
            self._persist(client)
            await _close_quietly(client)

    async def _sign_in_at_start(self) -> None:
        try:
            await self._signed_in()
        except BackendError:
            pass  # recorded in the state; /healthz and the next request report it

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cookie_sync_seconds)
            self.sync_cookies()

    # -- what the service asks ------------------------------------------------

    def health(self) -> BackendHealth:
        state = self._state
        detail = self._error.message if self._error is not None and state != READY else ""
        if state == STARTING:
            detail = "signing in to gemini.google.com"
        return BackendHealth(
            self.name,
            state,
            ready=state == READY,
            healthy=state not in (MISSING, RENEW),
            detail=detail,
            cookies=_COOKIE_STATE.get(state, "unchecked"),
        )

    def models(self) -> list[str]:
        client = self._client
        if client is None or self._state != READY:
            return []
        names: list[str] = []
        for m in client.list_models() or ():
            if not m.is_available:
                continue
            display = "gemini-" + "-".join(m.display_name.lower().split()) if m.display_name else ""
            for name in (display, m.model_name):
                if name and name not in names:
                    names.append(name)
        return names

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Delta, None]:
        client = await self._signed_in()
        model = None if request.default_model else request.model
        async with self._slots:
            try:
                gen = client.generate_content_stream(request.prompt(), model=model)
                first = True
                async with contextlib.aclosing(gen):
                    async for out in gen:
                        if first:
                            self._check_account(client)  # never answer as a signed-out guest
                            first = False
                        delta = Delta(out.text_delta or "", out.thoughts_delta or "")
                        if delta:
                            yield delta
            except BackendError as exc:
                raise self._record(exc) from None
            except Exception as exc:
                raise self._record(self._map(exc, request.model)) from exc
            finally:
                self._persist(client)

    def sync_cookies(self) -> bool:
        """Save the session's cookies if they rotated since the last save. True if saved."""
        client = self._client
        return self._persist(client) if client is not None else False

    # -- sign-in ----------------------------------------------------------------

    async def _signed_in(self) -> Any:
        """The ready client, signing in first if needed (single flight)."""
        if self._state == READY and self._client is not None:
            return self._client
        async with self._lock:
            if self._state == READY and self._client is not None:
                return self._client
            if (
                self._error is not None
                and time.monotonic() - self._failed_at < self.settings.retry_seconds
            ):
                raise self._error
            return await self._sign_in()

    async def _sign_in(self) -> Any:
        old, self._client = self._client, None
        if old is not None:
            await _close_quietly(old)
        cookies = self.store.load()
        if cookies is None:
            raise self._record(
                AuthFailed(
                    f"no cookies: put {PSID} and {PSIDTS} in {self.store.path} "
                    "or in the provider's gemini.cookies (see docs/webai.md)",
                    backend=self.name,
                ),
                MISSING,
            )
        try:
            from gemini_webapi import GeminiClient
        except ImportError:
            raise self._record(
                BackendUnavailable(
                    "gemini-webapi is not installed: pip install -e '.[webai]'", backend=self.name
                )
            ) from None
        s = self.settings
        extra: dict[str, Any] = {"verify": s.ca_bundle} if s.ca_bundle else {}
        client = GeminiClient(cookies.psid, cookies.psidts or None, proxy=s.proxy or None, **extra)
        self._state = STARTING
        log.info("signing in to gemini.google.com", cookie_file=str(self.store.path))
        try:
            async with asyncio.timeout(s.init_timeout):
                await client.init(
                    timeout=s.request_timeout,
                    auto_refresh=s.auto_refresh,
                    refresh_interval=s.refresh_interval,
                    watchdog_timeout=min(120.0, s.request_timeout),
                )
            self._check_account(client)
        except BaseException as exc:
            await _close_quietly(client)
            if isinstance(exc, asyncio.CancelledError):
                raise
            if isinstance(exc, TimeoutError) and not isinstance(exc, BackendError):
                exc = BackendTimeout(f"sign-in took over {s.init_timeout:g}s", backend=self.name)
            mapped = exc if isinstance(exc, BackendError) else self._map(exc)
            raise self._record(mapped) from None
        self._client, self._cookies = client, cookies
        self._state, self._error = READY, None
        self._persist(client)
        log.info("signed in to gemini.google.com", models=len(self.models()))
        return client

    def _check_account(self, client: Any) -> None:
        status = client.account_status
        if getattr(status, "name", "AVAILABLE") != "AVAILABLE":
            raise AuthFailed(
                f"Google says the session is {status.name.lower()}: {status.description} "
                f"Renew {PSID} and {PSIDTS} (see docs/webai.md).",
                backend=self.name,
            )

    def _record(self, error: BackendError, state: str | None = None) -> BackendError:
        """Remember a failure that says something about the account; return it."""
        error.backend = error.backend or self.name
        if state is None:
            if isinstance(error, AuthFailed):
                state = RENEW
            elif self._state == READY:
                return error  # one failed answer; the session itself is fine
            else:
                state = BLOCKED if isinstance(error, RateLimited) else BROKEN
        if state in (MISSING, RENEW) and self._state != state:
            log.warning("gemini cookies need renewing", reason=error.message)
        self._state, self._error, self._failed_at = state, error, time.monotonic()
        return error

    def _map(self, exc: BaseException, model: str = "") -> BackendError:
        from gemini_webapi import exceptions as gx

        text = " ".join(self.secrets.scrub(str(exc)).split())[:300] or type(exc).__name__
        if isinstance(exc, gx.AuthError):
            return AuthFailed(
                f"Google refused the cookies: renew {PSID} and {PSIDTS} (see docs/webai.md)",
                backend=self.name,
            )
        if isinstance(exc, gx.UsageLimitExceededError):
            return RateLimited(f"usage limit reached: {text}", backend=self.name)
        if isinstance(exc, gx.TemporarilyBlockedError):
            return RateLimited(f"temporarily blocked by Google: {text}", backend=self.name)
        if isinstance(exc, gx.ModelInvalidError):
            return ModelNotFound(text, backend=self.name)
        if isinstance(exc, ValueError) and "model" in str(exc).lower():
            known = ", ".join(self.models()) or "none listed"
            return ModelNotFound(
                f"this account has no model {model!r} (available: {known})", backend=self.name
            )
        if isinstance(exc, gx.TimeoutError | TimeoutError):
            return BackendTimeout(text, backend=self.name)
        return BackendUnavailable(f"{type(exc).__name__}: {text}", backend=self.name)

    # -- rotated cookies ----------------------------------------------------------

    def _persist(self, client: Any) -> bool:
        current = self._cookies
        if current is None:
            return False
        psid, psidts = _jar_values(client.cookies, current)
        if psid != current.psid:
            return False  # never save another session's (or a guest's) cookies over ours
        fresh = SessionCookies(psid, psidts or current.psidts)
        try:
            written = self.store.save(fresh)
        except OSError as exc:
            log.warning(
                "could not save rotated cookies", path=str(self.store.path), error=exc.strerror
            )
            return False
        self._cookies = fresh
        if written:
            log.info("rotated cookies saved", path=str(self.store.path))
        return written


def _jar_values(jar: Any, current: SessionCookies) -> tuple[str, str]:
    """``__Secure-1PSID`` and the newest ``__Secure-1PSIDTS`` in a curl_cffi cookie jar."""
    psid, stamps = "", []
    for cookie in getattr(jar, "jar", ()):
        if cookie.name == PSID and cookie.value:
            psid = cookie.value
        elif cookie.name == PSIDTS and cookie.value:
            stamps.append(cookie.value)
    fresh = [v for v in stamps if v != current.psidts]
    return psid, (fresh[-1] if fresh else current.psidts)


def _use_cache_dir(path: Path) -> None:
    """Point gemini-webapi's own cookie cache (``GEMINI_COOKIE_PATH``, read when it saves)
    into the private auth dir instead of the shared temp dir. The library reads only
    this environment variable for it, so it is set here, once per process start."""
    private_dir(path)
    export_environment("GEMINI_COOKIE_PATH", str(path))


async def _close_quietly(client: Any) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(10):
            await client.close()
