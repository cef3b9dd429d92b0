"""A local cto.new: Clerk (``/v1/client``, session tokens) and EngineLabs (HTTP + buffer socket).

    async with FakeCtoNew() as cto:
        cookie = cto.add_account("dev@example.com")
        # clerk_url = base_url = cto.base_url; ws_url = cto.ws_url
        cto.reply = CtoReply(text="hi", thinking="hmm", mode="snapshot")

Quirks reproduced (UPSTREAMS.md, public cto.new proxies):

* Clerk wants ``Cookie: __client=...`` and ``Origin: https://cto.new``; the
  token call is a form POST with ``__clerk_api_version``. Every
  ``rotate_every``-th token call rotates ``__client`` through ``Set-Cookie``
  and the old value is signed out from then on (401 "Signed out").
* Session JWTs live ``jwt_ttl`` seconds; EngineLabs refuses expired ones.
* ``PATCH /teams/preferred-model`` wants ``modelKey`` (``model`` → 500).
* ``POST /projects/create-hosted`` → 201 ``{projectId, workspaceId}``.
* The socket sends ``history`` then an idle ``state`` (inProgress false) on
  connect; answer frames go only to sockets open when the chat is posted.
* ``POST /engine-agent/chat`` needs the offers prelude, a base64 prompt
  with ``encoded: true``, and a body under 32 KB (else 413); it answers 202.
* Answer frames: state inProgress true, the user echo, thinking and chat
  updates (``delta``: pieces; ``snapshot``: the whole text so far), a label,
  state inProgress false. Text ``ping`` expects ``pong``.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import WSMsgType, web

from .oauth import ISSUED, fake_jwt

__all__ = ["CtoReply", "FakeCtoNew"]

ORIGIN = "https://cto.new"
ADAPTERS = [
    {
        "key": "gpt_5_4",
        "model": "gpt-5.4",
        "engineAgentKey": "GPT5_4",
        "provider": "openai",
        "minimumTier": 0,
        "enabled": True,
        "usageMultiplier": 3,
        "supportsImages": True,
    },
    {
        "key": "glm_5_1",
        "model": "glm-5.1",
        "engineAgentKey": "GLM5_1",
        "provider": "openrouter",
        "minimumTier": 0,
        "enabled": True,
        "usageMultiplier": 2,
        "supportsImages": False,
    },
    {
        "key": "gemini3_Flash_Preview",
        "model": "gemini-3-flash-preview",
        "engineAgentKey": "Gemini3FlashPreview",
        "provider": "google",
        "minimumTier": 0,
        "enabled": True,
        "usageMultiplier": 5,
        "supportsImages": True,
    },
]


@dataclass
class CtoReply:
    text: str = "Hello from cto.new"
    thinking: str = ""
    mode: str = "delta"  # delta | snapshot
    pieces: int = 3
    ping: bool = False  # send a text ping mid-answer and wait for pong
    delay: float = 0.0  # between frames


@dataclass
class _Account:
    email: str
    user: str
    org: str
    session: str
    cookie: str


def _pieces(text: str, n: int) -> list[str]:
    step = max(1, -(-len(text) // max(1, n)))
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


class FakeCtoNew:
    def __init__(self, *, rotate_every: int = 1, jwt_ttl: int = 60) -> None:
        self.rotate_every = rotate_every
        self.jwt_ttl = jwt_ttl
        self.reply = CtoReply()
        self.chat_failure: tuple[int, str] | None = None
        self.token_calls = 0
        self.client_calls = 0
        self.prompts: list[str] = []
        self.preferred: list[str] = []
        self.pongs = 0
        self.lost_answers = 0
        self.accounts: list[_Account] = []
        self._by_cookie: dict[str, _Account] = {}
        self._signed_out: set[str] = set()
        self._jwts: dict[str, tuple[_Account, float]] = {}
        self._projects: dict[str, tuple[_Account, str]] = {}  # projectId -> (account, workspace)
        self._offered: set[str] = set()
        self._sockets: dict[str, list[web.WebSocketResponse]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def add_account(self, email: str = "dev@example.com") -> str:
        acc = _Account(
            email,
            "user_" + secrets.token_hex(6),
            "org_" + secrets.token_hex(6),
            "sess_" + secrets.token_hex(6),
            "",
        )
        acc.cookie = self._new_cookie(acc)
        self.accounts.append(acc)
        return acc.cookie

    def live_cookie(self, index: int = 0) -> str:
        return self.accounts[index].cookie

    def is_signed_out(self, cookie: str) -> bool:
        return cookie in self._signed_out

    def _new_cookie(self, acc: _Account) -> str:
        cookie = fake_jwt(
            {"id": "client_" + secrets.token_hex(8), "rotating_token": secrets.token_hex(16)}
        )
        self._by_cookie[cookie] = acc
        ISSUED.add(cookie)
        return cookie

    def secrets(self) -> list[str]:
        """Every cookie and session JWT this server ever issued (for leak checks)."""
        return [*self._by_cookie, *self._jwts]

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> Self:
        app = web.Application()
        r = app.router
        r.add_get("/v1/client", self._client)
        r.add_post("/v1/client/sessions/{sid}/tokens", self._tokens)
        r.add_get("/chat/adapters", self._adapters)
        r.add_patch("/teams/preferred-model", self._preferred_model)
        r.add_post("/projects/create-hosted", self._create_hosted)
        r.add_post("/engine-agent/offers", self._offers)
        r.add_post("/engine-agent/chat", self._chat)
        r.add_get("/engine-agent/chat-histories/{chat}/buffer/stream", self._socket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for sockets in self._sockets.values():
            for ws in sockets:
                await ws.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- Clerk -------------------------------------------------------------------

    @staticmethod
    def _json(body: Any, status: int = 200) -> web.Response:
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    def _signed_out_answer(self) -> web.Response:
        return self._json(
            {
                "errors": [
                    {
                        "message": "Signed out",
                        "long_message": "You are signed out",
                        "code": "signed_out",
                    }
                ]
            },
            401,
        )

    def _cookie_account(self, request: web.Request) -> _Account | None:
        if request.headers.get("Origin") != ORIGIN:
            return None
        cookie = request.cookies.get("__client", "")
        acc = self._by_cookie.get(cookie)
        return acc if acc is not None and acc.cookie == cookie else None

    async def _client(self, request: web.Request) -> web.StreamResponse:
        self.client_calls += 1
        acc = self._cookie_account(request)
        if acc is None:
            return self._json({"response": None, "client": None})
        session = {
            "object": "session",
            "id": acc.session,
            "status": "active",
            "last_active_organization_id": acc.org,
            "user": {"id": acc.user, "email_addresses": [{"email_address": acc.email}]},
        }
        client = {
            "object": "client",
            "id": "client_x",
            "sessions": [session],
            "last_active_session_id": acc.session,
        }
        return self._json({"response": client, "client": None})

    async def _tokens(self, request: web.Request) -> web.StreamResponse:
        self.token_calls += 1
        acc = self._cookie_account(request)
        if acc is None or request.content_type != "application/x-www-form-urlencoded":
            return self._signed_out_answer()
        if request.match_info["sid"] != acc.session or not request.query.get("__clerk_api_version"):
            return self._json(
                {"errors": [{"message": "not found", "code": "resource_not_found"}]}, 404
            )
        exp = time.time() + self.jwt_ttl
        jwt = fake_jwt(
            {
                "sub": acc.user,
                "sid": acc.session,
                "org_id": acc.org,
                "exp": int(exp),
                "iat": int(time.time()),
            }
        )
        self._jwts[jwt] = (acc, exp)
        ISSUED.add(jwt)
        resp = self._json({"object": "token", "jwt": jwt})
        if self.token_calls % self.rotate_every == 0:
            self._signed_out.add(acc.cookie)
            acc.cookie = self._new_cookie(acc)
            resp.set_cookie(
                "__client",
                acc.cookie,
                domain=".clerk.cto.new",
                path="/",
                httponly=True,
                secure=True,
                samesite="Lax",
            )
        return resp

    # -- EngineLabs ----------------------------------------------------------------

    def _bearer(self, request: web.Request) -> _Account | None:
        auth = request.headers.get("Authorization", "")
        entry = self._jwts.get(auth.removeprefix("Bearer "))
        if entry is None or entry[1] < time.time() or request.headers.get("Origin") != ORIGIN:
            return None
        return entry[0]

    def _unauthorized(self) -> web.Response:
        return self._json({"message": "Unauthorized", "statusCode": 401}, 401)

    async def _adapters(self, request: web.Request) -> web.StreamResponse:
        if self._bearer(request) is None:
            return self._unauthorized()
        return self._json({"chatAdapters": ADAPTERS})

    async def _preferred_model(self, request: web.Request) -> web.StreamResponse:
        if self._bearer(request) is None:
            return self._unauthorized()
        body = await request.json()
        if "modelKey" not in body:
            return self._json(
                {"message": "body must have required property 'modelKey'", "statusCode": 500}, 500
            )
        if body["modelKey"] not in {a["key"] for a in ADAPTERS}:
            return self._json({"message": "Unknown model", "statusCode": 400}, 400)
        self.preferred.append(body["modelKey"])
        return self._json({"ok": True})

    async def _create_hosted(self, request: web.Request) -> web.StreamResponse:
        acc = self._bearer(request)
        if acc is None:
            return self._unauthorized()
        body = await request.json()
        if not body.get("projectName"):
            return self._json({"message": "projectName is required", "statusCode": 400}, 400)
        project, workspace = str(secrets.token_hex(8)), str(secrets.token_hex(8))
        self._projects[project] = (acc, workspace)
        return self._json(
            {
                "message": "Project created",
                "projectId": project,
                "projectShortCode": project[:8],
                "workspaceId": workspace,
                "workspaceName": body["projectName"],
            },
            201,
        )

    async def _offers(self, request: web.Request) -> web.StreamResponse:
        if self._bearer(request) is None:
            return self._unauthorized()
        body = await request.json()
        if body.get("surface") != "ENGINE_AGENT" or body.get("chatHistoryId") not in self._projects:
            return self._json({"message": "bad offers request", "statusCode": 400}, 400)
        self._offered.add(body["chatHistoryId"])
        return self._json({"offers": []})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        acc = self._bearer(request)
        if acc is None:
            return self._unauthorized()
        raw = await request.read()
        if len(raw) > 32 * 1024:
            return self._json({"message": "request entity too large", "statusCode": 413}, 413)
        body = orjson.loads(raw)
        chat = body.get("chatHistoryId")
        if chat not in self._projects or chat not in self._offered:
            return self._json({"message": "chat history not ready", "statusCode": 400}, 400)
        if body.get("encoded") is not True:
            return self._json({"message": "prompt must be encoded", "statusCode": 400}, 400)
        if self.chat_failure is not None:
            status, message = self.chat_failure
            return self._json({"message": message, "statusCode": status}, status)
        prompt = base64.b64decode(body["prompt"]).decode()
        self.prompts.append(prompt)
        task = asyncio.get_running_loop().create_task(self._answer(chat, prompt, self.reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        chat = request.match_info["chat"]
        entry = self._projects.get(chat)
        token = request.query.get("token", "")
        if (
            entry is None
            or token != f"{entry[0].user}:{entry[0].org}"
            or request.query.get("workspaceId") != entry[1]
            or request.headers.get("Origin") != ORIGIN
        ):
            return web.Response(status=401, text="Unauthorized")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(orjson.dumps({"type": "history", "messages": []}).decode())
        await ws.send_str(
            orjson.dumps(
                {"type": "state", "state": {"inProgress": False, "cancelled": False}}
            ).decode()
        )
        self._sockets.setdefault(chat, []).append(ws)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT and msg.data == "pong":
                    self.pongs += 1
        finally:
            self._sockets[chat].remove(ws)
        return ws

    async def _answer(self, chat: str, prompt: str, reply: CtoReply) -> None:
        sockets = list(self._sockets.get(chat, []))
        if not sockets:
            self.lost_answers += 1  # nobody listening: the answer is gone
            return
        mid = f"msg_{int(time.time() * 1000)}_0"

        def update(obj: dict[str, Any]) -> str:
            return orjson.dumps(
                {"type": "update", "buffer": orjson.dumps(obj).decode() + "\n"}
            ).decode()

        frames = [
            orjson.dumps(
                {"type": "state", "state": {"inProgress": True, "cancelled": False, "taskId": "t1"}}
            ).decode()
        ]
        frames.append(
            update({"id": "u1", "role": "user", "content": [{"type": "text", "text": prompt}]})
        )
        for kind, text in (("thinking", reply.thinking), ("chat", reply.text)):
            if not text:
                continue
            so_far = ""
            for piece in _pieces(text, reply.pieces):
                so_far += piece
                content = so_far if reply.mode == "snapshot" else piece
                frames.append(
                    update({"id": f"{mid}-{kind}", "type": kind, kind: {"content": content}})
                )
        frames.append(orjson.dumps({"type": "label", "label": "Fake chat"}).decode())
        frames.append(
            orjson.dumps(
                {"type": "state", "state": {"inProgress": False, "cancelled": False}}
            ).decode()
        )
        for i, frame in enumerate(frames):
            if reply.ping and i == 2:
                before = self.pongs
                for ws in sockets:
                    await ws.send_str("ping")
                for _ in range(200):
                    if self.pongs > before:
                        break
                    await asyncio.sleep(0.01)
            for ws in sockets:
                if not ws.closed:
                    await ws.send_str(frame)
            if reply.delay:
                await asyncio.sleep(reply.delay)
