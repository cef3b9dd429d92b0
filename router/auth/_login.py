"""Sign-in flows: OAuth (PKCE S256 + state) and the cto.new cookie.

An OAuth login is started with a mode:

* ``callback``: a one-shot HTTP listener on the provider's port (Claude
  54545 ``/callback``, Codex 1455 ``/auth/callback``) receives the browser's
  redirect. For desktops.
* ``paste``: for headless servers. Claude redirects to its code page, which
  shows ``CODE#STATE``; Codex redirects to a localhost URL that fails to
  load, whose address the user copies. Either is pasted back.

A pasted value must carry the state of the login it belongs to; a code
with another state is refused. The same flows serve the command line
(``python -m router login``) and the management API.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from suite.logging import get_logger
from suite.proxies import InvalidProxy, check_proxy_setting
from suite.tasks import spawn

from ._clerk import clerk_login
from ._manager import AuthManager
from ._oauth import LoginError, Pkce, authorize_url, exchange_code
from ._record import AuthRecord, InvalidName
from ._store import StoreError

__all__ = ["LoginFlow", "Logins", "parse_pasted_code"]

log = get_logger("router.auth.login")

Mode = Literal["callback", "paste"]
_LOGIN_TTL_SECONDS = 900.0
_MAX_PENDING = 32


def parse_pasted_code(text: str) -> tuple[str, str | None]:
    """``(code, state)`` from ``CODE#STATE``, a callback URL or a query string."""
    text = text.strip().strip("'\"")
    if not text:
        raise LoginError("nothing was pasted")
    if "code=" in text:
        query = urlsplit(text).query if "://" in text else text.lstrip("?")
        params = parse_qs(query)
        if params.get("error"):
            raise LoginError(f"the provider refused the sign-in: {params['error'][0][:100]}")
        code = (params.get("code") or [""])[0]
        states = params.get("state") or []
        state = states[0] if states else None
        if not code:
            raise LoginError("no code in the pasted URL")
        return code, state
    code, sep, state = text.partition("#")
    return code.strip(), (state.strip() or None) if sep else None


@dataclass(slots=True)
class LoginFlow:
    """One login in progress; ``status`` is pending, done or error."""

    provider: str
    mode: Mode
    pkce: Pkce = field(repr=False)
    redirect_uri: str
    url: str
    started: float = field(default_factory=time.time)
    status: str = "pending"
    error: str | None = None
    record: AuthRecord | None = field(default=None, repr=False)
    saved_to: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    runner: web.AppRunner | None = field(default=None, repr=False)
    proxy_url: str = field(default="", repr=False)  # the credential's own (may hold a password)

    @property
    def state(self) -> str:
        return self.pkce.state

    def view(self) -> dict[str, Any]:
        """What the management API shows (no code, no verifier, no token)."""
        out: dict[str, Any] = {
            "state": self.state,
            "provider": self.provider,
            "mode": self.mode,
            "status": self.status,
            "url": self.url,
        }
        if self.error:
            out["error"] = self.error
        if self.record is not None:
            out["name"] = self.record.name
            out["account"] = self.record.account
            out["saved_to"] = self.saved_to
        return out


class Logins:
    """Logins in progress, by state."""

    def __init__(self, manager: AuthManager) -> None:
        self.manager = manager
        self._flows: dict[str, LoginFlow] = {}

    def get(self, state: str) -> LoginFlow | None:
        self._expire()
        return self._flows.get(state)

    async def start(
        self,
        provider: str,
        mode: Mode = "callback",
        *,
        port: int | None = None,
        proxy_url: str = "",
    ) -> LoginFlow:
        """A new login; ``proxy_url`` is the credential's own outbound proxy, used for
        the code exchange and stored with it (a re-login without one keeps the old)."""
        proxy_url = _checked_proxy(proxy_url)
        self._expire()
        if sum(f.status == "pending" for f in self._flows.values()) >= _MAX_PENDING:
            raise LoginError("too many logins in progress; finish or wait for some to expire")
        profile = self.manager.profiles.oauth(provider)
        for flow in [
            f for f in self._flows.values() if f.provider == provider and f.mode == "callback"
        ]:
            if mode == "callback":
                await self._finish(flow, "error", "superseded by a newer login")
        pkce = Pkce.new()
        listen_port = port if port is not None else profile.redirect_port
        if mode == "callback":
            redirect = f"http://localhost:{listen_port}{profile.callback_path}"
        else:
            redirect = profile.paste_redirect_uri
        flow = LoginFlow(provider, mode, pkce, redirect, authorize_url(profile, pkce, redirect))
        flow.proxy_url = proxy_url
        if mode == "callback":
            flow.runner = await self._listen(flow, listen_port, profile.callback_path)
        self._flows[flow.state] = flow
        log.info("login started", provider=provider, mode=mode)
        return flow

    async def submit(self, pasted: str, state: str | None = None) -> LoginFlow:
        """Complete a login with a pasted ``CODE#STATE`` or callback URL."""
        code, got = parse_pasted_code(pasted)
        if state is not None and got is not None and got != state:
            raise LoginError("state mismatch: this code belongs to another login attempt")
        flow = self.get(got or state or "")
        if flow is None:
            if got is None and state is None:
                raise LoginError(
                    "paste CODE#STATE or the whole callback URL (the state is missing)"
                )
            raise LoginError("state mismatch: no login in progress has this state")
        if flow.status != "pending":
            return flow
        await self._complete(flow, code)
        return flow

    async def wait(self, flow: LoginFlow, timeout: float) -> LoginFlow:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(flow.done.wait(), timeout)
        return flow

    async def cancel(self, flow: LoginFlow, reason: str) -> None:
        await self._finish(flow, "error", reason)

    async def ctonew(self, pasted: str, proxy_url: str = "") -> AuthRecord:
        proxy_url = _checked_proxy(proxy_url)
        session = self.manager.session("ctonew", proxy_url)
        record = await clerk_login(session, self.manager.profiles.ctonew, pasted)
        return await self.manager.save(self._with_proxy(record, proxy_url))

    def _with_proxy(self, record: AuthRecord, proxy_url: str) -> AuthRecord:
        """The new sign-in with its own proxy: the one given, else the one it had."""
        old = self.manager.records().get(record.name)
        kept = proxy_url or (old.proxy_url if old is not None else "")
        return record.with_data(proxy_url=kept) if kept else record

    async def close(self) -> None:
        for flow in list(self._flows.values()):
            await self._finish(flow, "error", "the router is shutting down")
        self._flows.clear()

    # -- internals -------------------------------------------------------------

    async def _complete(self, flow: LoginFlow, code: str, *, in_listener: bool = False) -> None:
        """Exchange the code and store the credential. The flow always ends here, done
        or error with a message: a login left pending can only time out, and the user
        would wait for nothing."""
        profile = self.manager.profiles.oauth(flow.provider)
        try:
            session = self.manager.session(flow.provider, flow.proxy_url)
            record = await exchange_code(session, profile, flow.pkce, code, flow.redirect_uri)
            saved = await self.manager.save(self._with_proxy(record, flow.proxy_url))
        except (LoginError, StoreError, InvalidName) as exc:
            message = str(exc)
        except Exception as exc:  # whatever failed, the login must end
            log.error("login failed unexpectedly", provider=flow.provider, error=type(exc).__name__)
            message = f"{flow.provider}: the sign-in failed ({type(exc).__name__}); try again"
        else:
            message = ""
        if message:
            await self._finish(flow, "error", message, in_listener=in_listener)
            raise LoginError(message)
        flow.record = saved
        flow.saved_to = self.manager.store.describe(saved.name)
        log.info("login completed", provider=flow.provider, credential=saved.name)
        await self._finish(flow, "done", None, in_listener=in_listener)

    async def _finish(
        self, flow: LoginFlow, status: str, error: str | None, *, in_listener: bool = False
    ) -> None:
        if flow.status == "pending":
            flow.status, flow.error = status, error
        flow.done.set()
        runner, flow.runner = flow.runner, None
        if runner is None:
            return
        if in_listener:  # the listener cannot wait for its own handler: close it after
            spawn(runner.cleanup(), name="login-listener-close")
        else:
            await runner.cleanup()

    def _expire(self) -> None:
        cutoff = time.time() - _LOGIN_TTL_SECONDS
        for state, flow in list(self._flows.items()):
            if flow.started < cutoff:
                del self._flows[state]
                if flow.status == "pending":
                    flow.status, flow.error = "error", "timed out"
                    flow.done.set()
                if flow.runner is not None:
                    runner, flow.runner = flow.runner, None
                    spawn(runner.cleanup(), name="login-listener-close")

    async def _listen(self, flow: LoginFlow, port: int, path: str) -> web.AppRunner:
        async def callback(request: web.Request) -> web.Response:
            params = request.query
            if flow.status != "pending":
                return _page(f"This sign-in is already {flow.status}.", 409)
            message = None
            if params.get("error"):
                message = f"the provider refused the sign-in: {params['error'][:100]}"
            elif params.get("state") != flow.state:
                message = "state mismatch: the redirect does not belong to this login"
            if message is not None:
                await self._finish(flow, "error", message, in_listener=True)
                return _page(message, 400)
            try:
                await self._complete(flow, params.get("code", ""), in_listener=True)
            except LoginError as exc:
                return _page(str(exc), 400)
            return _page("Signed in. You can close this tab and go back to the terminal.", 200)

        app = web.Application()
        app.router.add_get(path, callback)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        error: OSError | None = None
        for host in ("localhost", "127.0.0.1"):  # "localhost" may include an unusable ::1
            try:
                await web.TCPSite(runner, host, port).start()
                return runner
            except OSError as exc:
                error = exc
        await runner.cleanup()
        reason = error.strerror if error is not None else "unknown error"
        raise LoginError(
            f"cannot listen on localhost:{port} for the callback ({reason}); use paste mode"
        ) from None


def _checked_proxy(proxy_url: str) -> str:
    try:
        return check_proxy_setting(proxy_url)
    except InvalidProxy as exc:
        raise LoginError(f"proxy_url: {exc}") from None


def _page(message: str, status: int) -> web.Response:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>cli-proxy-api</title></head>"
        f"<body><h1>cli-proxy-api</h1><p>{html.escape(message)}</p></body></html>"
    )
    return web.Response(text=body, status=status, content_type="text/html")
