"""A local web app that behaves like Google AI Studio as the page driver sees it.

* ``http://127.0.0.1:PORT/prompts/new_chat`` is the chat page; without a
  session cookie (``SID``) it redirects to ``http://localhost:PORT/signin``
  (another host, as accounts.google.com is), whose form signs in and comes
  back through ``/auth/callback``, which sets the cookies.
* Each Run asks ``/api/generate`` for a script (``Answer``, queued by the
  test or the default), then the page renders thinking and answer tokens
  one by one, showing the stop button meanwhile.
* The page reports ``loaded``, ``first_token``, ``last_token``, ``stopped``
  to ``/api/events`` with its clock (ms), so tests can time the relay
  against what the page rendered.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import quote

from aiohttp import web

from ._page import chat_page, signin_page

__all__ = ["Answer", "FakeAIStudio", "GenerateCall", "PageEvent"]

_TOKEN = re.compile(r"\S+\s*|\s+")
_MODELS = ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-3-pro-preview"]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the page renders for one Run."""

    text: str = "Hello from the fake AI Studio page."
    thinking: str = ""
    delay: float = 0.02  # seconds between rendered tokens
    delay_before: float = 0.0  # before the first token (the model "thinks")
    error: str | None = None  # "quota" shows the quota toast; other text an error callout

    def script(self) -> dict[str, Any]:
        return {
            "tokens": _TOKEN.findall(self.text),
            "thinking": _TOKEN.findall(self.thinking),
            "delay_ms": int(self.delay * 1000),
            "delay_before_ms": int(self.delay_before * 1000),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class GenerateCall:
    prompt: str
    model: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    stop: tuple[str, ...]
    at: float


@dataclass(frozen=True, slots=True)
class PageEvent:
    type: str
    at: float  # seconds (the page's Date.now() / 1000)
    model: str
    rendered: str = ""


@dataclass
class FakeAIStudio:
    default: Answer = field(default_factory=Answer)
    models: list[str] = field(default_factory=lambda: list(_MODELS))
    auto_signin_ms: int | None = None  # the sign-in page submits itself (a user in a test)
    chat_delay: float = 0.0  # seconds the chat page takes to arrive (a slow reload)
    chat_loads: int = 0  # chat page requests received
    host: str = "127.0.0.1"
    port: int = 0
    calls: list[GenerateCall] = field(default_factory=list)
    events: list[PageEvent] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    _queue: deque[Answer] = field(default_factory=deque)
    _runner: web.AppRunner | None = None

    # -- for tests -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/prompts/new_chat"

    @property
    def signin_host(self) -> str:
        return "localhost"

    def enqueue(self, *answers: Answer) -> None:
        self._queue.extend(answers)

    def new_session(self) -> str:
        token = secrets.token_urlsafe(16)
        self.sessions.add(token)
        return token

    def storage_state(self, token: str | None = None) -> dict[str, Any]:
        """A Playwright storage state that is signed in (what a login would save)."""
        token = token or self.new_session()
        cookies = [
            {
                "name": name,
                "value": token if name == "SID" else secrets.token_hex(8),
                "domain": self.host,
                "path": "/",
                "expires": time.time() + 86400 * 30,
                "httpOnly": True,
                "secure": False,
                "sameSite": "Lax",
            }
            for name in ("SID", "HSID", "SSID", "APISID", "SAPISID")
        ]
        return {"cookies": cookies, "origins": []}

    def sign_out_everyone(self) -> None:
        self.sessions.clear()

    def of_type(self, kind: str) -> list[PageEvent]:
        return [e for e in self.events if e.type == kind]

    # -- server ----------------------------------------------------------------------------

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_get("/prompts/new_chat", self._chat)
        app.router.add_get("/signin", self._signin_form)
        app.router.add_post("/signin", self._signin)
        app.router.add_get("/auth/callback", self._callback)
        app.router.add_post("/api/generate", self._generate)
        app.router.add_post("/api/events", self._event)
        app.router.add_get("/favicon.ico", self._no_icon)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        # Both names must reach the same server: bind all loopback (127.0.0.1 and localhost).
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _no_icon(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    def _signed_in(self, request: web.Request) -> bool:
        return request.cookies.get("SID", "") in self.sessions

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if request.host.split(":")[0] != self.host:
            raise web.HTTPFound(f"http://{self.host}:{self.port}{request.path_qs}")
        if not self._signed_in(request):
            back = quote(self.url, safe="")
            raise web.HTTPFound(f"http://{self.signin_host}:{self.port}/signin?continue={back}")
        self.chat_loads += 1
        if self.chat_delay:
            await asyncio.sleep(self.chat_delay)
        return web.Response(text=chat_page(self.models), content_type="text/html")

    async def _signin_form(self, request: web.Request) -> web.StreamResponse:
        page = signin_page(request.query.get("continue", self.url), self.auto_signin_ms)
        return web.Response(text=page, content_type="text/html")

    async def _signin(self, request: web.Request) -> web.StreamResponse:
        await request.post()
        token = self.new_session()
        raise web.HTTPFound(f"http://{self.host}:{self.port}/auth/callback?token={token}")

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "")
        if token not in self.sessions:
            raise web.HTTPForbidden(text="unknown sign-in token")
        resp = web.HTTPFound(self.url)
        for name in ("SID", "HSID", "SSID", "APISID", "SAPISID"):
            value = token if name == "SID" else secrets.token_hex(8)
            resp.set_cookie(name, value, max_age=86400 * 30, httponly=True, path="/")
        raise resp

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        if not self._signed_in(request):
            return web.json_response({"error": "Please sign in again."})
        body = await request.json()
        stop = body.get("stop") or []
        self.calls.append(
            GenerateCall(
                prompt=str(body.get("prompt", "")),
                model=str(body.get("model", "")),
                temperature=body.get("temperature"),
                top_p=body.get("top_p"),
                max_tokens=body.get("max_tokens"),
                stop=tuple(str(s) for s in stop),
                at=time.time(),
            )
        )
        answer = self._queue.popleft() if self._queue else self.default
        return web.json_response(answer.script())

    async def _event(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.events.append(
            PageEvent(
                type=str(body.get("type")),
                at=float(body.get("at", 0)) / 1000.0,
                model=str(body.get("model", "")),
                rendered=str(body.get("rendered", "")),
            )
        )
        return web.Response(status=204)
