"""One stored credential (``AuthRecord``) and the token an executor uses (``Token``).

A record is the JSON document a store keeps under ``<type>-<account>``: the
token file format of CLIProxyAPI (``type``, ``email``, ``access_token``,
``refresh_token``, ``id_token``, ``expired``, ``last_refresh``...) plus our
own keys (``disabled``, ``disabled_reason``, ``refresh_refused``, ctonew's
``client_cookie``/``session_id``/``user_id``/``org_id``). Unknown keys are
kept as they are, so a file written by CLIProxyAPI survives our rewrites.
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from suite.config import KINDS
from suite.proxies import proxy_label

from ._device import device_id_for

__all__ = [
    "KIND_TYPES",
    "TYPES",
    "AuthRecord",
    "InvalidName",
    "Token",
    "check_name",
    "expiry",
    "expiry_in",
    "jwt_claims",
    "record_name",
    "rfc3339",
]

# Executor kind -> record type (the ``type`` field / file-name prefix): every kind whose
# credentials come from the store, as the provider-kind registry says.
KIND_TYPES: Mapping[str, str] = {
    name: kind.store_type
    for name, kind in KINDS.items()
    if kind.credentials == "store" and kind.store_type is not None
}
TYPES = frozenset(KIND_TYPES.values())

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._+\-]{0,199}")  # whole name: fullmatch
_ACCOUNT_UNSAFE = re.compile(r"[^A-Za-z0-9@._+\-]")
_DOTS = re.compile(r"\.{2,}")

# A token lives hours (Claude), days (Codex) or a minute (cto.new). An expiry
# further ahead than this is taken as this far ahead, so a wild value (a
# provider's ``expires_in: 1e20``, a hand-edited file) can neither overflow
# a date nor keep a token from ever being refreshed.
MAX_LIFETIME_SECONDS = 366 * 86400.0
_LAST_TIMESTAMP = 253402300799.0  # 9999-12-31T23:59:59Z, the last second a date can show


class InvalidName(ValueError):
    """A credential name that could escape the store (``..``, ``/``) or is malformed."""


def check_name(name: str) -> str:
    """``name`` if it is a safe credential name (``<type>-<account>``), else InvalidName."""
    if not _NAME.fullmatch(name) or ".." in name or name.endswith(".json"):
        raise InvalidName(f"invalid credential name {name!r}")
    prefix = name.split("-", 1)[0]
    if prefix not in TYPES or "-" not in name:
        raise InvalidName(f"invalid credential name {name!r}: expected <provider>-<account>")
    return name


def record_name(type_: str, account: str) -> str:
    """A valid name for ``type_``'s ``account`` (an email, an id), made safe rather than
    refused: an account the provider accepted must always be storable. Characters a
    name cannot hold become ``_``, as do runs of dots (``a..b`` would read as a path)."""
    safe = _ACCOUNT_UNSAFE.sub("_", account.strip())
    safe = _DOTS.sub(lambda m: "_" * len(m.group()), safe)[:180].strip(".")
    if safe.endswith(".json"):
        safe = safe[:-5] + "_json"
    return check_name(f"{type_}-{safe or 'account'}")


def expiry(when: float, now: float | None = None) -> float:
    """``when`` (epoch seconds) inside the range a token can live: at most
    ``MAX_LIFETIME_SECONDS`` ahead; 0 (unknown: refresh) for NaN or before 1970."""
    if math.isnan(when) or when <= 0:
        return 0.0
    now = time.time() if now is None else now
    return min(when, now + MAX_LIFETIME_SECONDS)


def expiry_in(seconds: Any, now: float) -> float | None:
    """The expiry a token answer's ``expires_in`` (a number, or digits in a string)
    announces, clamped; None when it is absent, not a number or not positive."""
    if isinstance(seconds, str):
        try:
            seconds = float(seconds.strip())
        except ValueError:
            return None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    if math.isnan(seconds) or seconds <= 0:
        return None
    return now + min(float(seconds), MAX_LIFETIME_SECONDS)


def rfc3339(ts: float) -> str:
    """``ts`` as an RFC 3339 UTC time; any float gives a date (clamped to 1970..9999)."""
    ts = 0.0 if math.isnan(ts) else min(max(ts, 0.0), _LAST_TIMESTAMP)
    return datetime.fromtimestamp(ts, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> float:
    """Epoch seconds of a stored expiry: RFC 3339, epoch seconds or milliseconds
    (number or numeric string); anything else (``"nan"``, a year past 9999) is 0."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            return _parse_date(text)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return 0.0
    number = float(value)
    return expiry(number / 1000.0 if number > 1e12 else number)


def _parse_date(text: str) -> float:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return expiry(when.timestamp())
    except (ValueError, OverflowError, OSError):
        return 0.0


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (we only read our own tokens' claims)."""
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True, slots=True)
class Token:
    """What an executor needs to call the upstream; never logged."""

    access: str = field(repr=False)
    expires_at: float
    account_id: str = ""  # codex: chatgpt-account-id
    user_id: str = ""  # ctonew: Clerk user and organisation (WebSocket token)
    org_id: str = ""
    cookie: str = field(default="", repr=False)  # ctonew: the __client cookie
    account_uuid: str = ""  # claude: metadata.user_id's account_uuid
    device_id: str = ""  # claude: metadata.user_id's device_id (router.auth._device)
    # The credential's own outbound proxy (``proxy_url``; "direct": none): it wins over
    # the provider's and the server's (suite.proxies). Never logged: it may hold a password.
    proxy_url: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class AuthRecord:
    """A stored credential. ``version`` is the store's opaque optimistic-update tag."""

    name: str
    type: str
    data: Mapping[str, Any] = field(repr=False)
    version: str = ""

    @classmethod
    def from_json(cls, name: str, raw: bytes, version: str = "") -> AuthRecord:
        """Parse a stored document; ValueError when it is not a credential of ours."""
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        type_ = str(data.get("type") or name.split("-", 1)[0])
        if type_ not in TYPES:
            raise ValueError(f"unknown credential type {type_!r}")
        return cls(name=name, type=type_, data=data, version=version)

    def to_json(self) -> bytes:
        return orjson.dumps({**self.data, "type": self.type}, option=orjson.OPT_INDENT_2)

    def with_data(self, **changes: Any) -> AuthRecord:
        data = {**self.data, **changes}
        return AuthRecord(
            self.name, self.type, {k: v for k, v in data.items() if v is not None}, self.version
        )

    # -- reading fields -----------------------------------------------------

    def _str(self, key: str) -> str:
        value = self.data.get(key)
        return value if isinstance(value, str) else ""

    @property
    def account(self) -> str:
        return self._str("email") or self._str("account") or self.name.split("-", 1)[-1]

    @property
    def access_token(self) -> str:
        return self._str("access_token")

    @property
    def refresh_token(self) -> str:
        return self._str("refresh_token")

    @property
    def client_cookie(self) -> str:
        return self._str("client_cookie")

    @property
    def proxy_url(self) -> str:
        """The credential's own outbound proxy (docs/credentials.md); "" when unset."""
        return self._str("proxy_url")

    @property
    def expires_at(self) -> float:
        """Epoch seconds the access token lapses; 0 when unknown (treated as expired)."""
        when = _parse_time(self.data.get("expired"))
        if not when and self.access_token:
            when = _parse_time(jwt_claims(self.access_token).get("exp"))
        return when

    @property
    def disabled(self) -> bool:
        return self.data.get("disabled") is True

    @property
    def refresh_refused(self) -> bool:
        """The provider refused our refresh token/cookie: only a new login helps."""
        return self.data.get("refresh_refused") is True

    @property
    def disabled_reason(self) -> str:
        return self._str("disabled_reason")

    @property
    def state(self) -> str:
        if self.refresh_refused:
            return "refresh_failed"
        return "disabled" if self.disabled else "active"

    def token(self) -> Token:
        return Token(
            access=self.access_token,
            expires_at=self.expires_at,
            account_id=self._str("account_id"),
            user_id=self._str("user_id"),
            org_id=self._str("org_id"),
            cookie=self.client_cookie,
            account_uuid=self._str("account_uuid"),
            device_id=device_id_for(self.data) if self.type == "claude" else "",
            proxy_url=self.proxy_url,
        )

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """What the management list shows: never a secret."""
        now = time.time() if now is None else now
        expires = self.expires_at
        out = {
            "name": self.name,
            "provider": self.type,
            "account": self.account,
            "expires_at": rfc3339(expires) if expires else None,
            "expired": bool(expires) and expires <= now,
            "state": self.state,
            "reason": self.disabled_reason or None,
            "last_refresh": self._str("last_refresh") or None,
        }
        if self.proxy_url:  # its label only: the userinfo is a secret
            out["proxy"] = proxy_label(self.proxy_url)
        return out
