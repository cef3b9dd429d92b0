"""cto.new sign-in: the Clerk ``__client`` cookie → a 60-second session JWT.

Every Clerk answer may carry a rotated ``__client`` in ``Set-Cookie``; the
caller stores it before the JWT it came with is used, or the account is
signed out the next time. The session used is the client's last active one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import orjson

from suite.outbound import Session, failure

from ._oauth import ClerkProfile, LoginError, RefreshFailed
from ._record import AuthRecord, expiry, jwt_claims, record_name, rfc3339

__all__ = ["clerk_login", "clerk_refresh", "parse_client_cookie"]

_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
_COOKIE = "__client"


def parse_client_cookie(text: str) -> str:
    """The ``__client`` value from a bare value, ``__client=...`` or a whole Cookie header."""
    text = text.strip()
    if text.lower().startswith("cookie:"):
        text = text[7:].strip()
    if "=" not in text:
        return text
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(text)
    except Exception:  # http.cookies raises CookieError and others on odd input
        jar = SimpleCookie()
    if _COOKIE in jar:
        return jar[_COOKIE].value
    for part in text.split(";"):
        name, _, value = part.strip().partition("=")
        if name == _COOKIE:
            return value.strip()
    raise LoginError("no __client cookie found in what was pasted")


def _headers(profile: ClerkProfile, cookie: str) -> dict[str, str]:
    return {
        "Cookie": f"{_COOKIE}={cookie}",
        "Origin": profile.origin,
        "Referer": f"{profile.origin}/",
        "Accept": "application/json",
    }


async def _call(
    session: Session, method: str, url: str, headers: dict[str, str], **kw: Any
) -> tuple[int, Any, str | None]:
    """Status, parsed body and a rotated ``__client`` (None when not rotated)."""
    async with session.request(method, url, headers=headers, timeout=_TIMEOUT, **kw) as resp:
        raw = await resp.read()
        rotated = None
        morsel = resp.cookies.get(_COOKIE)
        if morsel is not None and morsel.value:
            rotated = morsel.value
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {}
        return resp.status, body, rotated


def _clerk_error(body: Any) -> str:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("code") or "error")[:200]
    return "error"


def _session(client: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    sessions = [s for s in client.get("sessions") or [] if isinstance(s, dict)]
    wanted = client.get("last_active_session_id")
    for s in sessions:
        if s.get("id") == wanted and s.get("status", "active") == "active":
            return str(s["id"]), s
    for s in sessions:
        if s.get("status", "active") == "active" and s.get("id"):
            return str(s["id"]), s
    return "", {}


def _email(user: Mapping[str, Any]) -> str:
    for item in user.get("email_addresses") or []:
        if isinstance(item, dict) and item.get("email_address"):
            return str(item["email_address"])
    return ""


async def _client(
    session: Session, profile: ClerkProfile, cookie: str
) -> tuple[str, dict[str, Any], str]:
    """``(session_id, session object, cookie)`` of the signed-in client."""
    url = f"{profile.clerk_url}/v1/client?__clerk_api_version={profile.api_version}"
    status, body, rotated = await _call(session, "GET", url, _headers(profile, cookie))
    cookie = rotated or cookie
    if status in (401, 403):
        raise RefreshFailed(f"clerk answered {status}: {_clerk_error(body)}", refused=True)
    if status != 200:
        raise RefreshFailed(f"clerk answered {status}", refused=False)
    client = body.get("response") if isinstance(body, dict) else None
    if not isinstance(client, dict):
        raise RefreshFailed("signed out: the cookie has no client", refused=True)
    sid, sess = _session(client)
    if not sid:
        raise RefreshFailed("signed out: no active session for this cookie", refused=True)
    return sid, sess, cookie


async def _token(
    session: Session, profile: ClerkProfile, cookie: str, sid: str
) -> tuple[int, str, str, Any]:
    url = (
        f"{profile.clerk_url}/v1/client/sessions/{sid}/tokens"
        f"?__clerk_api_version={profile.api_version}"
    )
    headers = {**_headers(profile, cookie), "Content-Type": "application/x-www-form-urlencoded"}
    status, body, rotated = await _call(session, "POST", url, headers, data=b"")
    jwt = str(body.get("jwt") or "") if isinstance(body, dict) else ""
    return status, jwt, rotated or cookie, body


def _fields(jwt: str, sid: str, cookie: str) -> dict[str, Any]:
    claims = jwt_claims(jwt)
    short = claims.get("o")
    org = claims.get("org_id") or (short.get("id") if isinstance(short, dict) else "") or ""
    exp = claims.get("exp")
    now = time.time()
    out = {
        "client_cookie": cookie,
        "session_id": sid,
        "access_token": jwt,
        "expired": rfc3339(expiry(float(exp), now) if isinstance(exp, int | float) else now + 60),
        "last_refresh": rfc3339(now),
    }
    if claims.get("sub"):
        out["user_id"] = str(claims["sub"])
    if org:
        out["org_id"] = str(org)
    return out


async def clerk_refresh(
    session: Session, profile: ClerkProfile, record: AuthRecord
) -> dict[str, Any]:
    """A fresh JWT (and the possibly rotated cookie) for ``record``."""
    cookie = record.client_cookie
    if not cookie:
        raise RefreshFailed("no __client cookie stored", refused=True)
    sid = str(record.data.get("session_id") or "")
    try:
        if not sid:
            sid, _, cookie = await _client(session, profile, cookie)
        status, jwt, cookie, body = await _token(session, profile, cookie, sid)
        if status == 404:  # the session ended; the client may have another one
            sid, _, cookie = await _client(session, profile, cookie)
            status, jwt, cookie, body = await _token(session, profile, cookie, sid)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RefreshFailed(f"clerk unreachable ({failure(exc)})", refused=False) from None
    # A cookie Clerk rotated is stored even when the answer is of no use otherwise.
    rotated = {"client_cookie": cookie} if cookie != record.client_cookie else {}
    if status in (401, 403):
        raise RefreshFailed(
            f"clerk answered {status}: {_clerk_error(body)}", refused=True, rotated=rotated
        )
    if status != 200 or not jwt:
        raise RefreshFailed(f"clerk answered {status}", refused=False, rotated=rotated)
    return {**record.data, **_fields(jwt, sid, cookie)}


async def clerk_login(session: Session, profile: ClerkProfile, pasted: str) -> AuthRecord:
    """Validate a pasted cookie at once (session id, then a JWT) → a new record."""
    cookie = parse_client_cookie(pasted)
    if not cookie:
        raise LoginError("the __client cookie is empty")
    try:
        sid, sess, cookie = await _client(session, profile, cookie)
        status, jwt, cookie, body = await _token(session, profile, cookie, sid)
    except RefreshFailed as exc:
        raise LoginError(f"cto.new refused the cookie ({exc.message})") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise LoginError(f"clerk unreachable ({failure(exc)})") from None
    if status != 200 or not jwt:
        raise LoginError(
            f"cto.new refused the cookie (clerk answered {status}: {_clerk_error(body)})"
        )
    fields = _fields(jwt, sid, cookie)
    user = sess.get("user") if isinstance(sess.get("user"), dict) else {}
    email = _email(user or {})
    if not fields.get("org_id") and sess.get("last_active_organization_id"):
        fields["org_id"] = str(sess["last_active_organization_id"])
    account = email or str(fields.get("user_id") or "") or sid
    data = {"type": "ctonew", "email": email or None, **fields}
    return AuthRecord(
        record_name("ctonew", account), "ctonew", {k: v for k, v in data.items() if v}
    )
