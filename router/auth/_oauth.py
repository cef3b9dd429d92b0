"""Claude and ChatGPT (Codex) OAuth: PKCE, code exchange and refresh.

Endpoints are per-provider config (``providers.<name>.oauth``), the real
services by default. The two differ on the wire: Anthropic's token endpoint
takes JSON (and the ``state`` with the code), OpenAI's takes a form. Both
rotate the refresh token on every refresh; the caller stores the new one
before it uses the new access token.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from suite.config import Config
from suite.outbound import Session, failure

from ._device import device_id_for
from ._record import AuthRecord, expiry, expiry_in, jwt_claims, record_name, rfc3339

__all__ = [
    "ClerkProfile",
    "LoginError",
    "OAuthProfile",
    "Pkce",
    "Profiles",
    "RefreshFailed",
    "authorize_url",
    "exchange_code",
    "profiles_from_config",
    "refresh_oauth",
]

CLAUDE_CODE_PASTE_URI = "https://console.anthropic.com/oauth/code/callback"
_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)


class LoginError(Exception):
    """A login that cannot complete; the message is safe to show."""


class RefreshFailed(Exception):
    """A refresh that did not work. ``refused``: the provider rejected the
    credential (a new login is needed); else a network/5xx problem to retry.
    ``rotated``: secrets the provider rotated all the same (a new refresh token
    in an answer we could not use, a new cookie): they must be stored, or the
    next try presents a secret the provider has already retired."""

    def __init__(
        self,
        message: str,
        *,
        refused: bool,
        retry_after: float | None = None,
        rotated: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.refused = refused
        self.retry_after = retry_after
        self.rotated: Mapping[str, str] = rotated or {}


@dataclass(frozen=True, slots=True)
class OAuthProfile:
    type: str  # claude | codex
    client_id: str
    authorize_url: str
    token_url: str
    scopes: str
    redirect_port: int
    callback_path: str
    paste_redirect_uri: str  # where headless users are sent (Claude shows CODE#STATE there)
    json_requests: bool  # Anthropic: JSON bodies; OpenAI: form bodies
    extra_params: tuple[tuple[str, str], ...] = ()
    lead_seconds: float = 300.0

    @property
    def redirect_uri(self) -> str:
        return f"http://localhost:{self.redirect_port}{self.callback_path}"


@dataclass(frozen=True, slots=True)
class ClerkProfile:
    clerk_url: str = "https://clerk.cto.new"
    origin: str = "https://cto.new"
    api_version: str = "2025-11-10"
    lead_seconds: float = 10.0
    type: str = "ctonew"


@dataclass(frozen=True, slots=True)
class Profiles:
    claude: OAuthProfile
    codex: OAuthProfile
    ctonew: ClerkProfile

    def oauth(self, type_: str) -> OAuthProfile:
        if type_ == "claude":
            return self.claude
        if type_ == "codex":
            return self.codex
        raise LoginError(f"{type_} does not sign in with OAuth")

    def lead(self, type_: str) -> float:
        return self.ctonew.lead_seconds if type_ == "ctonew" else self.oauth(type_).lead_seconds


def _provider_options(config: Config | None, kind: str) -> Mapping[str, Any]:
    if config is None:
        return {}
    for prov in config.providers.values():
        if prov.kind == kind:
            return prov.options
    return {}


def profiles_from_config(config: Config | None) -> Profiles:
    """Endpoints and refresh leads: the first provider of each kind sets them."""
    c_opts = _provider_options(config, "claude-oauth")
    c = dict(c_opts.get("oauth") or {})
    x_opts = _provider_options(config, "codex-oauth")
    x = dict(x_opts.get("oauth") or {})
    t_opts = _provider_options(config, "ctonew")
    claude = OAuthProfile(
        type="claude",
        client_id=str(c.get("client_id", "9d1c250a-e61b-44d9-88ed-5944d1962f5e")),
        authorize_url=str(c.get("authorize_url", "https://claude.ai/oauth/authorize")),
        token_url=str(c.get("token_url", "https://platform.claude.com/v1/oauth/token")),
        scopes=str(c.get("scopes", "org:create_api_key user:profile user:inference")),
        redirect_port=int(c.get("redirect_port", 54545)),
        callback_path=str(c.get("callback_path", "/callback")),
        paste_redirect_uri=str(c.get("paste_redirect_uri", CLAUDE_CODE_PASTE_URI)),
        json_requests=True,
        extra_params=(("code", "true"),),
        lead_seconds=float(c_opts.get("refresh_lead_seconds", 600)),
    )
    codex_port = int(x.get("redirect_port", 1455))
    codex = OAuthProfile(
        type="codex",
        client_id=str(x.get("client_id", "app_EMoamEEZ73f0CkXaXp7hrann")),
        authorize_url=str(x.get("authorize_url", "https://auth.openai.com/oauth/authorize")),
        token_url=str(x.get("token_url", "https://auth.openai.com/oauth/token")),
        scopes=str(x.get("scopes", "openid profile email offline_access")),
        redirect_port=codex_port,
        callback_path=str(x.get("callback_path", "/auth/callback")),
        # No code page exists for Codex: a headless user copies the (failing) localhost URL.
        paste_redirect_uri=str(
            x.get("paste_redirect_uri", f"http://localhost:{codex_port}/auth/callback")
        ),
        json_requests=False,
        extra_params=(
            ("id_token_add_organizations", "true"),
            ("codex_cli_simplified_flow", "true"),
        ),
        lead_seconds=float(x_opts.get("refresh_lead_seconds", 600)),
    )
    ctonew = ClerkProfile(
        clerk_url=str(t_opts.get("clerk_url", "https://clerk.cto.new")).rstrip("/"),
        origin=str(t_opts.get("origin", "https://cto.new")).rstrip("/"),
        lead_seconds=float(t_opts.get("refresh_lead_seconds", 10)),
    )
    return Profiles(claude, codex, ctonew)


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str
    challenge: str
    state: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)[:96]
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return cls(verifier, challenge, secrets.token_urlsafe(24))


def authorize_url(profile: OAuthProfile, pkce: Pkce, redirect_uri: str) -> str:
    params = [
        *[(k, v) for k, v in profile.extra_params if k == "code"],
        ("client_id", profile.client_id),
        ("response_type", "code"),
        ("redirect_uri", redirect_uri),
        ("scope", profile.scopes),
        ("code_challenge", pkce.challenge),
        ("code_challenge_method", "S256"),
        ("state", pkce.state),
        *[(k, v) for k, v in profile.extra_params if k != "code"],
    ]
    return f"{profile.authorize_url}?{urlencode(params)}"


async def _post(
    session: Session, profile: OAuthProfile, fields: dict[str, str]
) -> tuple[int, dict[str, Any], float | None]:
    headers = {"Accept": "application/json"}
    if profile.json_requests:
        kwargs: dict[str, Any] = {"data": orjson.dumps(fields)}
        headers["Content-Type"] = "application/json"
    else:
        kwargs = {"data": urlencode(fields)}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    async with session.post(profile.token_url, headers=headers, timeout=_TIMEOUT, **kwargs) as resp:
        raw = await resp.read()
        retry = resp.headers.get("Retry-After")
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {"error": raw[:200].decode("utf-8", "replace")}
        return resp.status, body if isinstance(body, dict) else {}, _seconds(retry)


def _seconds(header: str | None) -> float | None:
    """A ``Retry-After`` in seconds (the date form is not used by token endpoints)."""
    try:
        wait = float(header or "")
    except ValueError:
        return None
    return wait if math.isfinite(wait) and wait >= 0 else None


def _oauth_error(body: Mapping[str, Any]) -> str:
    err = body.get("error")
    if isinstance(err, dict):
        return str(err.get("code") or err.get("message") or err.get("type") or "error")[:200]
    desc = body.get("error_description") or body.get("detail") or body.get("message")
    parts = [str(p) for p in (err, desc) if p]
    return ": ".join(parts)[:200] or "error"


def _record_data(type_: str, body: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """Stored fields from a token response; the old refresh token stays if none came back."""
    now = time.time()
    access = str(body.get("access_token") or "")
    expires = expiry_in(body.get("expires_in"), now)
    if expires is None:
        exp = jwt_claims(access).get("exp")
        expires = expiry(float(exp), now) if isinstance(exp, int | float) else 0.0
    data: dict[str, Any] = {
        **old,
        "type": type_,
        "access_token": access,
        "refresh_token": str(body.get("refresh_token") or old.get("refresh_token") or ""),
        "expired": rfc3339(expires or now + 3600),
        "last_refresh": rfc3339(now),
    }
    if body.get("id_token"):
        data["id_token"] = str(body["id_token"])
    if type_ == "claude":
        data["device_id"] = device_id_for(old)
        account = body.get("account") or {}
        org = body.get("organization") or {}
        if isinstance(account, dict):
            data["email"] = str(account.get("email_address") or old.get("email") or "")
            if account.get("uuid"):
                data["account_uuid"] = str(account["uuid"])
        if isinstance(org, dict) and org.get("uuid"):
            data["organization_uuid"] = str(org["uuid"])
            data["organization_name"] = str(org.get("name") or "")
    else:
        claims = jwt_claims(str(data.get("id_token") or ""))
        auth = claims.get("https://api.openai.com/auth") or {}
        if isinstance(auth, dict) and auth.get("chatgpt_account_id"):
            data["account_id"] = str(auth["chatgpt_account_id"])
        if claims.get("email"):
            data["email"] = str(claims["email"])
    return data


async def exchange_code(
    session: Session,
    profile: OAuthProfile,
    pkce: Pkce,
    code: str,
    redirect_uri: str,
) -> AuthRecord:
    """The authorization code → a new credential record (not yet stored)."""
    fields = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": profile.client_id,
        "code_verifier": pkce.verifier,
    }
    if profile.json_requests:
        fields["state"] = pkce.state
    try:
        status, body, _ = await _post(session, profile, fields)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise LoginError(f"{profile.type}: token endpoint unreachable ({failure(exc)})") from None
    if status != 200 or not body.get("access_token"):
        raise LoginError(f"{profile.type}: the code was refused ({status}: {_oauth_error(body)})")
    data = _record_data(profile.type, body, {})
    data.pop("disabled", None)
    account = str(data.get("email") or data.get("account_uuid") or data.get("account_id") or "")
    if not account:
        raise LoginError(f"{profile.type}: the token response names no account")
    return AuthRecord(record_name(profile.type, account), profile.type, data)


async def refresh_oauth(
    session: Session, profile: OAuthProfile, record: AuthRecord
) -> dict[str, Any]:
    """New token fields for ``record``; RefreshFailed says whether to retry."""
    if not record.refresh_token:
        raise RefreshFailed("no refresh token stored", refused=True)
    fields = {
        "grant_type": "refresh_token",
        "refresh_token": record.refresh_token,
        "client_id": profile.client_id,
    }
    if not profile.json_requests:
        fields["scope"] = "openid profile email"
    try:
        status, body, wait = await _post(session, profile, fields)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RefreshFailed(f"token endpoint unreachable ({failure(exc)})", refused=False) from None
    if status == 200:
        # The provider has rotated the refresh token the moment it answered: take the
        # new one out first, so that it is stored whatever else is wrong with the answer.
        new = body.get("refresh_token")
        rotated = {"refresh_token": new} if isinstance(new, str) and new else {}
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise RefreshFailed(
                "token endpoint answered 200 without an access token",
                refused=False,
                rotated=rotated,
            )
        try:
            return _record_data(profile.type, body, record.data)
        except (TypeError, ValueError, OverflowError) as exc:
            raise RefreshFailed(
                f"token endpoint answer unusable ({type(exc).__name__})",
                refused=False,
                rotated=rotated,
            ) from None
    reason = f"token endpoint answered {status}: {_oauth_error(body)}"
    refused = 400 <= status < 500 and status not in (408, 429)
    raise RefreshFailed(reason, refused=refused, retry_after=wait)
