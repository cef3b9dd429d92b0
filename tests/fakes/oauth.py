"""Local OAuth servers that behave like Claude's and OpenAI's (Codex) sign-in.

    async with FakeOAuth("claude") as oauth:   # or "codex"
        oauth.authorize_url, oauth.token_url, oauth.paste_redirect_uri
        oauth.access          # live access tokens (hand it to an API fake's api_keys)
        oauth.refresh_calls   # refresh grants that reached the endpoint

Wire facts reproduced (UPSTREAMS.md, CLIProxyAPI's clients):

* ``GET /oauth/authorize`` checks client id, ``response_type=code``, S256
  challenge, state and redirect URI, then redirects with ``code`` and
  ``state`` (a signed-in user approving at once). Claude's paste redirect
  lands on a page that shows ``CODE#STATE``.
* Claude's token endpoint (``/v1/oauth/token``) takes **JSON** and wants the
  ``state`` with the code; OpenAI's (``/oauth/token``) takes a **form**. The
  other encoding is refused as the real ones do.
* The PKCE verifier must hash to the challenge; a code works once.
* Every refresh rotates the refresh token; the old one is refused from then
  on (Claude: 400 ``invalid_grant``; OpenAI: 401 ``refresh_token_reused``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlencode

import orjson
from aiohttp import web

__all__ = ["ISSUED", "FakeOAuth", "fake_jwt"]

#: Every code, token and cookie any sign-in fake issued in this test run (leak checks).
ISSUED: set[str] = set()

CLAUDE_CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(claims: dict[str, Any]) -> str:
    """An unsigned-looking JWT (``header.payload.signature``) carrying ``claims``."""
    header = _b64(orjson.dumps({"alg": "RS256", "typ": "JWT"}))
    return f"{header}.{_b64(orjson.dumps(claims))}.{_b64(secrets.token_bytes(32))}"


class FakeOAuth:
    def __init__(
        self, flavour: str, *, email: str = "user@example.com", expires_in: float = 3600
    ) -> None:
        assert flavour in ("claude", "codex")
        self.flavour = flavour
        self.client_id = CLAUDE_CLIENT_ID if flavour == "claude" else CODEX_CLIENT_ID
        self.email = email
        self.account_id = "acct-" + secrets.token_hex(6)
        self.expires_in = expires_in
        self.access: set[str] = {"placeholder-never-issued"}
        self.refresh_calls = 0
        self.exchange_calls = 0
        self.refresh_delay = 0.0
        self.fail_refresh: int | None = None  # answer refreshes with this status (e.g. 503)
        # Fields laid over every refresh answer (a misbehaving endpoint: {"access_token": None}).
        self.refresh_extra: dict[str, Any] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (path, content type, fields)
        self._codes: dict[str, dict[str, str]] = {}
        self._issued: list[str] = []  # every code and token handed out (for leak checks)
        self._refresh: dict[str, str] = {}  # live refresh token -> email
        self._used: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- public ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/oauth/authorize"

    @property
    def token_url(self) -> str:
        path = "/v1/oauth/token" if self.flavour == "claude" else "/oauth/token"
        return f"{self.base_url}{path}"

    @property
    def paste_redirect_uri(self) -> str:
        return f"{self.base_url}/oauth/code/callback"

    def issue(self) -> tuple[str, str]:
        """A signed-in account's tokens, as if from an earlier login: ``(access, refresh)``."""
        body = self._tokens(self.email)
        return body["access_token"], body["refresh_token"]

    def revoke_access(self) -> None:
        """Every access token issued so far stops working (they expired upstream)."""
        self.access.clear()
        self.access.add("placeholder-never-issued")

    def is_live_refresh(self, token: str) -> bool:
        return token in self._refresh

    def secrets(self) -> list[str]:
        """Every code, access, refresh and id token this server ever issued."""
        return list(self._issued)

    async def start(self) -> Self:
        app = web.Application()
        app.router.add_get("/oauth/authorize", self._authorize)
        app.router.add_get("/oauth/code/callback", self._code_page)
        app.router.add_post(
            "/v1/oauth/token" if self.flavour == "claude" else "/oauth/token", self._token
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- endpoints ---------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        problems = []
        if q.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        if q.get("response_type") != "code":
            problems.append("response_type must be code")
        if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) < 43:
            problems.append("PKCE S256 challenge required")
        if not q.get("state"):
            problems.append("state required")
        redirect = q.get("redirect_uri", "")
        allowed = redirect.startswith("http://localhost:") or redirect == self.paste_redirect_uri
        if not allowed:
            problems.append("redirect_uri not allowed")
        if problems:
            return web.Response(status=400, text="; ".join(problems))
        code = secrets.token_urlsafe(32)
        self._issued.append(code)
        ISSUED.add(code)
        self._codes[code] = {
            "challenge": q["code_challenge"],
            "redirect_uri": redirect,
            "state": q["state"],
            "client_id": q["client_id"],
        }
        raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': q['state']})}")

    async def _code_page(self, request: web.Request) -> web.StreamResponse:
        """Claude's 'paste this code' page."""
        code, state = request.query.get("code", ""), request.query.get("state", "")
        return web.Response(
            text=f"<html><body><p>Paste this code</p><code>{code}#{state}</code></body></html>",
            content_type="text/html",
        )

    def _refuse(self, status: int, error: str, description: str) -> web.Response:
        if self.flavour == "codex" and error == "refresh_token_reused":
            body: dict[str, Any] = {
                "error": {
                    "message": description,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": error,
                }
            }
        else:
            body = {"error": error, "error_description": description}
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    async def _fields(self, request: web.Request) -> dict[str, str] | web.Response:
        ctype = request.content_type
        raw = await request.read()
        if self.flavour == "claude":
            if ctype != "application/json":
                return self._refuse(400, "invalid_request", "Invalid request format")
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return self._refuse(400, "invalid_request", "Invalid request format")
            fields = {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
        else:
            if ctype != "application/x-www-form-urlencoded":
                return self._refuse(400, "invalid_request", "Unsupported content type")
            fields = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        self.requests.append(
            (request.path, ctype, {k: v for k, v in fields.items() if k == "grant_type"})
        )
        return fields

    async def _token(self, request: web.Request) -> web.StreamResponse:
        fields = await self._fields(request)
        if isinstance(fields, web.Response):
            return fields
        if fields.get("client_id") != self.client_id:
            return self._refuse(401, "invalid_client", "Client authentication failed")
        grant = fields.get("grant_type")
        if grant == "authorization_code":
            return self._exchange(fields)
        if grant == "refresh_token":
            return await self._refresh_grant(fields)
        return self._refuse(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def _exchange(self, f: dict[str, str]) -> web.Response:
        self.exchange_calls += 1
        code = self._codes.pop(f.get("code", ""), None)
        if code is None:
            return self._refuse(400, "invalid_grant", "Invalid authorization code")
        digest = _b64(hashlib.sha256(f.get("code_verifier", "").encode()).digest())
        if digest != code["challenge"]:
            return self._refuse(400, "invalid_grant", "Invalid code verifier")
        if f.get("redirect_uri") != code["redirect_uri"]:
            return self._refuse(400, "invalid_grant", "Redirect URI mismatch")
        if self.flavour == "claude" and f.get("state") != code["state"]:
            return self._refuse(400, "invalid_grant", "Invalid state")
        return web.Response(
            body=orjson.dumps(self._tokens(self.email)), content_type="application/json"
        )

    async def _refresh_grant(self, f: dict[str, str]) -> web.Response:
        self.refresh_calls += 1
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        if self.fail_refresh is not None:
            return self._refuse(self.fail_refresh, "server_error", "temporarily unavailable")
        token = f.get("refresh_token", "")
        if self.flavour == "codex" and f.get("scope") is None:
            return self._refuse(400, "invalid_request", "scope is required")
        if token in self._used:
            if self.flavour == "codex":
                return self._refuse(
                    401,
                    "refresh_token_reused",
                    "Your refresh token has already been used to generate a new access token. Please try signing in again.",
                )
            return self._refuse(400, "invalid_grant", "Refresh token not found or invalid")
        email = self._refresh.pop(token, None)
        if email is None:
            return self._refuse(400, "invalid_grant", "Refresh token not found or invalid")
        self._used.add(token)
        body = {**self._tokens(email), **self.refresh_extra}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    def _tokens(self, email: str) -> dict[str, Any]:
        now = int(time.time())
        if self.flavour == "claude":
            access = "sk-ant-oat01-" + secrets.token_urlsafe(48)
            refresh = "sk-ant-ort01-" + secrets.token_urlsafe(48)
            body: dict[str, Any] = {
                "token_type": "Bearer",
                "access_token": access,
                "expires_in": self.expires_in,
                "refresh_token": refresh,
                "scope": "user:inference user:profile",
                "organization": {"uuid": "org-" + self.account_id, "name": "Fake Org"},
                "account": {"uuid": self.account_id, "email_address": email},
            }
        else:
            auth = {"chatgpt_account_id": self.account_id, "chatgpt_plan_type": "plus"}
            access = fake_jwt(
                {
                    "exp": now + self.expires_in,
                    "https://api.openai.com/auth": auth,
                    "n": secrets.token_hex(8),
                }
            )
            refresh = "rt_" + secrets.token_urlsafe(48)
            body = {
                "id_token": fake_jwt(
                    {"email": email, "exp": now + 3600, "https://api.openai.com/auth": auth}
                ),
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": self.expires_in,
                "token_type": "Bearer",
                "scope": "openid profile email offline_access",
            }
        self.access.add(access)
        self._refresh[refresh] = email
        self._issued += [access, refresh] + ([body["id_token"]] if "id_token" in body else [])
        ISSUED.update(self._issued)
        return body
