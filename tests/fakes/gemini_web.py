"""A local fake of the Gemini web app (gemini.google.com) as ``gemini-webapi`` reaches it.

``gemini-webapi`` calls fixed ``https://`` URLs but takes a proxy and a CA
bundle (curl's own settings), so the fake sits behind :class:`TLSFront`:

    async with FakeGeminiWeb() as fake:
        GeminiClient(psid, psidts, proxy=fake.proxy_url, verify=str(fake.ca_file))

Endpoints, in the shapes the library parses (not simplified stand-ins):

* ``GET gemini.google.com/app``: the app page carrying ``SNlM0e`` (access
  token), ``cfb2h`` (build label), ``FdrFJe`` (session id). Cookies Google
  no longer accepts get the signed-out page (no ``SNlM0e``), and the
  session's ``GetUserStatus`` then says 1016 (unauthenticated).
* ``GET www.google.com/``: the pre-flight that hands out anonymous cookies.
* ``POST .../batchexecute``: ``)]}'`` then length-prefixed frames of
  ``["wrb.fr", rpcid, "<json>"]`` parts (user status, model list, quotas...).
* ``POST .../StreamGenerate``: length-prefixed frames, each carrying the whole
  answer so far; the last marks the candidate complete (``[8][0] == 2``).
  In-band errors (usage limit 1037, model header invalid 1052, IP blocked
  1060) arrive as a 200 frame whose ``[5][2][0][1][0]`` is the code.
* ``POST accounts.google.com/RotateCookies``: sets a new ``__Secure-1PSIDTS``;
  the old one stops working, as Google's does.

Behaviours for ``StreamGenerate`` are queued like the other fakes':
:class:`~tests.fakes.Reply`, :class:`WebError`, :class:`WebErrorAfter`.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

from ._behaviours import Reply, split_text
from ._tls import TestCA, TLSFront

__all__ = ["FakeGeminiWeb", "WebError", "WebErrorAfter", "WebRequest", "frame"]

HOSTS = (
    "gemini.google.com",
    "accounts.google.com",
    "www.google.com",
    "content-push.googleapis.com",
)
#: (model id, category, display name, description, model number) as GetUserStatus lists them.
MODELS = (
    ("fbb127bbb056c959", "Fast", "2.5 Flash", "Answers quickly", 1),
    ("9d8ca3786ebdfbea", "Pro", "2.5 Pro", "Reasoning, math and code", 3),
)
USAGE_LIMIT, MODEL_HEADER_INVALID, IP_BLOCKED = 1037, 1052, 1060
_ERROR_INFO = "type.googleapis.com/assistant.boq.bard.application.BardErrorInfo"
_MODEL_HEADER = "x-goog-ext-525001261-jspb"


@dataclass(frozen=True, slots=True)
class WebError:
    """A 200 answer whose first frame carries Gemini's error ``code``."""

    code: int


@dataclass(frozen=True, slots=True)
class WebErrorAfter:
    """``chunks`` frames of ``reply`` (default: the fake's default), then error ``code``."""

    chunks: int
    code: int
    reply: Reply | None = None


WebBehaviour = Reply | WebError | WebErrorAfter


@dataclass(frozen=True, slots=True)
class WebRequest:
    host: str
    method: str
    path: str
    cookies: dict[str, str]
    form: dict[str, str]


@functools.cache
def _ca() -> TestCA:
    """One CA per test process: key generation is the slow part."""
    return TestCA.create(HOSTS)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def frame(obj: Any) -> str:
    """One length-prefixed frame: the count is in UTF-16 units and covers both newlines."""
    payload = "\n" + orjson.dumps(obj).decode() + "\n"
    return f"{_utf16_len(payload)}{payload}"


def _rpc_body(rpcid: str, body: Any) -> str:
    parts = [
        ["wrb.fr", rpcid, orjson.dumps(body).decode(), None, None, None, "generic"],
        ["di", 57],
        ["af.httprm", 57, "-2785941617016712346", 21],
    ]
    return ")]}'\n\n" + frame(parts) + frame([["e", 4, None, None, 1234]])


def _user_status(authed: bool) -> list[Any]:
    body: list[Any] = [None] * 18
    body[14] = 1000 if authed else 1016
    models = []
    for model_id, category, display, description, number in MODELS:
        m: list[Any] = [None] * 18
        m[0], m[1], m[2], m[11], m[12], m[17] = (
            model_id,
            category,
            description,
            display,
            description,
            number,
        )
        models.append(m)
    body[15], body[16], body[17] = models, [], []
    return body


_RPC_BODIES: dict[str, Any] = {
    "ESY5D": [[]],  # READ_USER_PREFERENCES
    "MaZiqc": [None, None, []],  # LIST_CONVERSATIONS
    "jSf9Qc": [2, [], False],  # GET_USAGE_INFO
    "qpEbW": [[]],  # CHECK_GEMINI_QUOTA
    "aPya6c": [False, 0.1, None],  # CHECK_QUOTA
    "GPRiHf": [None, None],  # GET_ABUSE_STATUS
}


def _app_page(token: str | None) -> str:
    data = {
        "cfb2h": "boq_assistant-bard-web-server_20260101.00_p0",
        "FdrFJe": "-4893207713254183917",
        "TuX5cc": "en",
        "qKIAYe": "feeds/mcudyrk2a4khkz",
    }
    if token is not None:
        data["SNlM0e"] = token
    wiz = orjson.dumps(data).decode()
    return (
        "<!doctype html><html lang=en><head><title>Gemini</title>"
        f'<script data-id="_gd" nonce="n">window.WIZ_global_data = {wiz};</script>'
        "</head><body><chat-app></chat-app></body></html>"
    )


def _candidate(rcid: str, text: str, thoughts: str | None, done: bool) -> list[Any]:
    cand: list[Any] = [None] * (38 if thoughts else 9)
    cand[0], cand[1], cand[8] = rcid, [text], [2 if done else 1]
    if thoughts:
        cand[37] = [[thoughts]]
    return cand


def _answer_frame(ids: tuple[str, str, str], text: str, thoughts: str | None, done: bool) -> str:
    cid, rid, rcid = ids
    inner: list[Any] = [None] * (26 if done else 5)
    inner[1] = [cid, rid]
    inner[4] = [_candidate(rcid, text, thoughts, done)]
    if done:
        inner[25] = "!context-" + rid
    return frame([["wrb.fr", None, orjson.dumps(inner).decode()]])


def _error_frame(code: int) -> str:
    return frame([["wrb.fr", None, None, None, None, [13, None, [[_ERROR_INFO, [code]]]]]])


@dataclass(slots=True)
class _Account:
    psid: str
    psidts: str
    rotations: int = 0
    retired: list[str] = field(default_factory=list)


class FakeGeminiWeb:
    """The Gemini web endpoints for one Google account, behind a TLS front."""

    def __init__(
        self,
        psid: str = "g.a000test-psid-0001",
        psidts: str = "sidts-test-0",
        *,
        rotate_on_generate: bool = False,
        chunk_delay: float = 0.01,
    ) -> None:
        self.account = _Account(psid, psidts)
        #: Google also rotates ``__Secure-1PSIDTS`` in ordinary responses; with this on,
        #: every answer carries a fresh one (and the previous one stops working).
        self.rotate_on_generate = rotate_on_generate
        self.chunk_delay = chunk_delay
        self.default: WebBehaviour = Reply(text="Hello from Gemini web")
        self.requests: list[WebRequest] = []
        self.prompts: list[str] = []
        self.model_ids: list[str | None] = []
        self._queue: deque[WebBehaviour] = deque()
        self._tokens: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._front: TLSFront | None = None

    # -- public surface -------------------------------------------------------

    @property
    def proxy_url(self) -> str:
        assert self._front is not None, "not started"
        return self._front.url

    @property
    def ca_file(self) -> Path:
        return _ca().ca_file

    @property
    def connects(self) -> list[str]:
        """Every ``CONNECT host:port`` the client made (all of them ended here)."""
        return self._front.connects if self._front else []

    def enqueue(self, *behaviours: WebBehaviour) -> None:
        self._queue.extend(behaviours)

    def rotate(self) -> str:
        """Issue a new ``__Secure-1PSIDTS``; the current one is refused from now on."""
        acc = self.account
        acc.retired.append(acc.psidts)
        acc.rotations += 1
        acc.psidts = f"sidts-test-{acc.rotations}-{secrets.token_hex(4)}"
        return acc.psidts

    def hits(self, path_suffix: str) -> list[WebRequest]:
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._front = await TLSFront(_ca(), runner.addresses[0][1]).start()
        return self

    async def close(self) -> None:
        if self._front is not None:
            await self._front.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- Google ---------------------------------------------------------------

    def _authed(self, cookies: dict[str, str]) -> bool:
        acc = self.account
        return cookies.get("__Secure-1PSID") == acc.psid and (
            cookies.get("__Secure-1PSIDTS") == acc.psidts
        )

    def _rotation_cookie(self) -> str:
        return (
            f"__Secure-1PSIDTS={self.rotate()}; Domain=.google.com; Path=/; "
            "Expires=Fri, 01 Jan 2038 00:00:00 GMT; Secure; HttpOnly; Priority=HIGH"
        )

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").split(":")[0]
        form: dict[str, str] = {}
        if request.method == "POST" and request.content_type.startswith(
            "application/x-www-form-urlencoded"
        ):
            form = {k: str(v) for k, v in (await request.post()).items()}
        cookies = dict(request.cookies)
        self.requests.append(WebRequest(host, request.method, request.path, cookies, form))
        route = (host, request.method, request.path)
        if route == ("gemini.google.com", "GET", "/app"):
            return self._app(cookies)
        if route == ("www.google.com", "GET", "/"):
            resp = web.Response(text="<html>Google</html>", content_type="text/html")
            resp.headers.add("Set-Cookie", "NID=511=anon; Domain=.google.com; Path=/; HttpOnly")
            resp.headers.add("Set-Cookie", "AEC=anon-aec; Domain=.google.com; Path=/; Secure")
            return resp
        if route == ("accounts.google.com", "POST", "/RotateCookies"):
            if not self._authed(cookies):
                return web.Response(status=401, text="Unauthorized")
            resp = web.Response(
                text=')]}\'\n[["identity.hfcr",600]]', content_type="application/json"
            )
            resp.headers.add("Set-Cookie", self._rotation_cookie())
            return resp
        if host == "gemini.google.com" and request.path.endswith("/data/batchexecute"):
            return self._batch(request, cookies, form)
        if host == "gemini.google.com" and request.path.endswith("/StreamGenerate"):
            return await self._generate(request, cookies, form)
        return web.Response(status=404, text="Not Found")

    def _app(self, cookies: dict[str, str]) -> web.Response:
        if self._authed(cookies):
            token = "AJpMio" + secrets.token_urlsafe(24)
            self._tokens.add(token)
            return web.Response(text=_app_page(token), content_type="text/html")
        return web.Response(text=_app_page(None), content_type="text/html")

    def _batch(
        self, request: web.Request, cookies: dict[str, str], form: dict[str, str]
    ) -> web.Response:
        authed = self._authed(cookies) and form.get("at", "") in self._tokens
        rpcids = request.query.get("rpcids", "").split(",")
        rpcid = rpcids[0] if rpcids else ""
        body = _user_status(authed) if rpcid == "otAQ7b" else _RPC_BODIES.get(rpcid, [])
        return web.Response(text=_rpc_body(rpcid, body), content_type="application/json")

    async def _generate(
        self, request: web.Request, cookies: dict[str, str], form: dict[str, str]
    ) -> web.StreamResponse:
        if not (self._authed(cookies) and form.get("at", "") in self._tokens):
            return web.Response(status=401, text="Unauthorized")
        inner = orjson.loads(orjson.loads(form["f.req"])[1])
        self.prompts.append(inner[0][0])
        header = request.headers.get(_MODEL_HEADER)
        model_id = orjson.loads(header)[4] if header else None
        self.model_ids.append(model_id)
        behaviour = self._queue.popleft() if self._queue else self.default
        if model_id is not None and model_id not in {m[0] for m in MODELS}:
            behaviour = WebError(MODEL_HEADER_INVALID)
        resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
        if self.rotate_on_generate:
            resp.headers.add("Set-Cookie", self._rotation_cookie())
        await resp.prepare(request)
        await resp.write(b")]}'\n\n")
        ids = (
            "c_" + secrets.token_hex(8),
            "r_" + secrets.token_hex(8),
            "rc_" + secrets.token_hex(8),
        )
        if isinstance(behaviour, WebError):
            await resp.write(_error_frame(behaviour.code).encode())
            await resp.write_eof()
            return resp
        reply = behaviour if isinstance(behaviour, Reply) else (behaviour.reply or self._reply())
        pieces = split_text(reply.text, reply.chunks) or [""]
        limit = behaviour.chunks if isinstance(behaviour, WebErrorAfter) else len(pieces)
        delay = reply.chunk_delay or self.chunk_delay
        text = ""
        for i, piece in enumerate(pieces[:limit]):
            text += piece
            done = i == len(pieces) - 1 and not isinstance(behaviour, WebErrorAfter)
            await resp.write(_answer_frame(ids, text, reply.thinking, done).encode())
            await asyncio.sleep(delay)
        if isinstance(behaviour, WebErrorAfter):
            await resp.write(_error_frame(behaviour.code).encode())
        else:
            await resp.write(frame([["di", 88], ["af.httprm", 88, "-1", 4]]).encode())
        await resp.write_eof()
        return resp

    def _reply(self) -> Reply:
        return self.default if isinstance(self.default, Reply) else Reply(text="Hello")
