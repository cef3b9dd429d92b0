"""A client key as stored: who it is, what it may use, and how much.

The key itself is never stored: only its SHA-256 (to recognise it) and its first
characters (``cpa-AbCd``, to tell keys apart in a list). A generated key is
``cpa-`` followed by 43 URL-safe characters (32 random bytes), long enough that
guessing is hopeless and recognisable in a leaked file or a secret scanner.

Model patterns are globs (``gpt-*``, ``claude-sonnet-?-*``, ``gemini-2.5-[fp]*``),
matched against the whole model name the client asked for, case-sensitively:
an administrator writing a key's allow-list thinks in names, not regular
expressions, and a glob cannot be written to take exponential time. They are
compiled into one regular expression when the keys load, never per request.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "KEY_PREFIX",
    "LIMIT_FIELDS",
    "ClientKey",
    "InvalidKeyField",
    "compile_models",
    "find_key",
    "generate_key",
    "hash_key",
    "parse_expiry",
    "parse_limit",
    "parse_models",
    "parse_name",
]

KEY_PREFIX = "cpa-"
_SHOWN = 4  # random characters kept for display after the prefix
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_RESERVED = frozenset({"local"})  # the id of loopback callers when no key is configured
_MAX_PATTERNS = 100
_MAX_PATTERN_CHARS = 200
_RELATIVE = re.compile(r"(\d{1,6})([mhdw])")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
LIMIT_FIELDS = ("requests_per_minute", "tokens_per_day", "monthly_token_budget")


class InvalidKeyField(ValueError):
    """A field of a client key is missing or wrong; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str | bytes) -> str:
    """The stored form of a key: SHA-256, hex."""
    raw = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()


def _display(key: str) -> str:
    if key.startswith(KEY_PREFIX):
        return key[: len(KEY_PREFIX) + _SHOWN]
    return key[:_SHOWN]


@dataclass(frozen=True, slots=True)
class ClientKey:
    """One managed key. ``None`` for a limit means none; an empty ``models`` means every
    model. Times are epoch seconds."""

    id: str
    name: str
    digest: str  # sha256 hex of the key
    prefix: str  # what is shown of it: "cpa-AbCd"
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    models: tuple[str, ...] = ()
    requests_per_minute: int | None = None
    tokens_per_day: int | None = None
    monthly_token_budget: int | None = None

    @classmethod
    def new(cls, name: str, **fields: Any) -> tuple[ClientKey, str]:
        """A fresh key record and the key itself (shown once, then only its hash is kept)."""
        key = generate_key()
        rec = cls(
            id="k_" + secrets.token_hex(6),
            name=parse_name(name),
            digest=hash_key(key),
            prefix=_display(key),
            created_at=time.time(),
        )
        return rec.changed(fields), key

    def changed(self, fields: Mapping[str, Any]) -> ClientKey:
        """This key with ``fields`` (the API's and the CLI's words) checked and applied.
        Raises ``InvalidKeyField`` naming the first bad or unknown field."""
        out: dict[str, Any] = {}
        for field, value in fields.items():
            if field == "name":
                out["name"] = parse_name(value)
            elif field == "models":
                out["models"] = parse_models(value)
            elif field == "expires_at":
                out["expires_at"] = parse_expiry(value)
            elif field in LIMIT_FIELDS:
                out[field] = parse_limit(field, value)
            else:
                known = ", ".join(("name", "models", "expires_at", *LIMIT_FIELDS))
                raise InvalidKeyField(field, f"unknown field (known: {known})")
        return replace(self, **out)

    def state(self, now: float) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    @property
    def limited(self) -> bool:
        """Whether requests must be checked beyond the key itself (models or a limit)."""
        return bool(self.models) or any(getattr(self, f) is not None for f in LIMIT_FIELDS)

    def to_json(self) -> dict[str, Any]:
        """The stored form (with the hash; never the key)."""
        return {
            "id": self.id,
            "name": self.name,
            "sha256": self.digest,
            "prefix": self.prefix,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "models": list(self.models),
            **{f: getattr(self, f) for f in LIMIT_FIELDS},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ClientKey:
        digest = doc.get("sha256")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise InvalidKeyField("sha256", "missing or not a SHA-256 in hex")
        ident = doc.get("id")
        if not isinstance(ident, str) or not ident:
            raise InvalidKeyField("id", "missing")
        return cls(
            id=ident,
            name=parse_name(doc.get("name")),
            digest=digest,
            prefix=str(doc.get("prefix") or ""),
            created_at=_time(doc.get("created_at")) or 0.0,
            expires_at=_time(doc.get("expires_at")),
            revoked_at=_time(doc.get("revoked_at")),
            models=parse_models(doc.get("models") or ()),
            **{f: parse_limit(f, doc.get(f)) for f in LIMIT_FIELDS},
        )

    def view(self, now: float) -> dict[str, Any]:
        """What the management API and ``keys list --json`` show: never the hash."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "source": "store",
            "state": self.state(now),
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "models": list(self.models),
            **{f: getattr(self, f) for f in LIMIT_FIELDS},
        }


def find_key(keys: Sequence[ClientKey], ref: str) -> ClientKey | None:
    """The key whose id, else whose name, is ``ref``."""
    for key in keys:
        if key.id == ref:
            return key
    for key in keys:
        if key.name == ref:
            return key
    return None


def parse_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidKeyField(
            "name", "1-64 characters: letters, digits and . _ @ - (starting with a letter or digit)"
        )
    if value in _RESERVED:
        raise InvalidKeyField("name", f"{value!r} is reserved")
    return value


def parse_models(value: Any) -> tuple[str, ...]:
    """Glob patterns; empty (or absent) means every model."""
    if isinstance(value, str):
        value = [p for p in value.split(",") if p.strip()]
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise InvalidKeyField("models", "a list of model name patterns (globs such as gpt-*)")
    if len(value) > _MAX_PATTERNS:
        raise InvalidKeyField("models", f"at most {_MAX_PATTERNS} patterns")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidKeyField("models", "each pattern is a non-empty string")
        pattern = item.strip()
        if len(pattern) > _MAX_PATTERN_CHARS:
            raise InvalidKeyField("models", f"a pattern is at most {_MAX_PATTERN_CHARS} characters")
        if pattern not in out:
            out.append(pattern)
    return tuple(out)


def compile_models(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One expression matching a whole model name any pattern allows; None: every model."""
    if not patterns or "*" in patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def parse_limit(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidKeyField(field, "a whole number > 0, or null for no limit")
    try:
        number = float(value)
    except ValueError:
        raise InvalidKeyField(field, "a whole number > 0, or null for no limit") from None
    if not math.isfinite(number) or number < 1 or number != int(number) or number > 1e15:
        raise InvalidKeyField(field, "a whole number > 0, or null for no limit")
    return int(number)


def parse_expiry(value: Any, now: float | None = None) -> float | None:
    """``None`` (never), epoch seconds, an ISO 8601 date or time (UTC unless it says),
    or a duration from now: ``90m``, ``12h``, ``30d``, ``2w``."""
    if value is None or value == "":
        return None
    now = time.time() if now is None else now
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            raise InvalidKeyField("expires_at", "epoch seconds must be a positive number")
        return float(value)
    if not isinstance(value, str):
        raise InvalidKeyField("expires_at", "an ISO date or time, epoch seconds, or e.g. 30d")
    text = value.strip()
    rel = _RELATIVE.fullmatch(text)
    if rel:
        return now + int(rel.group(1)) * _UNIT_SECONDS[rel.group(2)]
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidKeyField(
            "expires_at", f"{text[:40]!r} is not an ISO date or time, epoch seconds, or e.g. 30d"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ValueError(f"not a time: {value!r}"[:80])


def _iso(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
