"""What the ChatGPT Codex backend checks and reports beyond the public Responses API.

* ``check_codex``: ``store: false``, ``stream: true``, ``input`` a list, no
  system items, no ``max_output_tokens`` / ``previous_response_id`` /
  ``temperature`` / ``top_p``. The current backend takes requests without
  ``instructions`` (Codex CLI 0.171 sends none: its base prompt is a
  ``developer`` item); ``legacy=True`` is an older backend, which answered
  "Instructions are required" / "Instructions are not valid".
* ``Sessions``: the backend caches prompts by ``prompt_cache_key`` (Codex
  sends one id for the whole conversation as ``session-id``, ``thread-id``,
  ``x-client-request-id`` and ``prompt_cache_key``). A conversation whose id
  changes between turns is served, but every turn is a cache miss: the fake
  records each such break so tests can prove the ids hold.
* ``usage_headers`` / ``usage_body``: the plan's windows as the
  ``x-codex-primary-*`` / ``x-codex-secondary-*`` headers on every answer and
  as ``GET /backend-api/wham/usage``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Sessions", "check_codex", "usage_body", "usage_headers"]

_CODEX_UNSUPPORTED = ("max_output_tokens", "previous_response_id", "temperature", "top_p")
_ID_HEADERS = ("session-id", "thread-id", "x-client-request-id")


def check_codex(body: Any, *, legacy: bool = False) -> str | None:
    """The backend's extra rules (answered as ``{"detail": ...}``)."""
    if not isinstance(body, dict):
        return "Invalid request body"
    if legacy and not body.get("instructions"):
        return "Instructions are required"
    if "instructions" in body and not isinstance(body["instructions"], str):
        return "Instructions are not valid"
    for name in _CODEX_UNSUPPORTED:
        if name in body:
            return f"Unsupported parameter: {name}"
    if body.get("store") is not False:
        return "Store must be set to false"
    if body.get("stream") is not True:
        return "Stream must be set to true"
    items = body.get("input")
    if not isinstance(items, list):
        return "Input must be a list"
    for item in items:
        if isinstance(item, dict) and item.get("role") == "system":
            return "System messages are not allowed"
    return None


def _opening(items: list[Any]) -> bytes:
    """A conversation's first turn: its items up to the first user message."""
    out = []
    for item in items:
        out.append(item)
        if isinstance(item, dict) and item.get("role") == "user":
            break
    return orjson.dumps(out, option=orjson.OPT_SORT_KEYS)


@dataclass
class Sessions:
    """Conversations seen, by opening, with the id each came with."""

    ids: dict[bytes, str] = field(default_factory=dict)
    #: ``(first id, later id)`` for every turn that came with another id than its first.
    breaks: list[tuple[str, str]] = field(default_factory=list)
    #: Requests whose id headers and ``prompt_cache_key`` disagree.
    mismatched: list[dict[str, str]] = field(default_factory=list)

    def turn(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
        """Note one request; True when its prompt prefix is cached (same conversation id)."""
        key = body.get("prompt_cache_key")
        sent = {h: headers.get(h, "") for h in _ID_HEADERS}
        if key and any(v and v != key for v in sent.values()):
            self.mismatched.append({**sent, "prompt_cache_key": str(key)})
        items = body.get("input")
        if not isinstance(items, list) or not isinstance(key, str) or not key:
            return False
        opening = _opening(items)
        seen = opening in self.ids
        first = self.ids.setdefault(opening, key)
        if first != key:
            self.breaks.append((first, key))
            return False
        return seen


def usage_headers(usage: Mapping[str, float], now: float | None = None) -> dict[str, str]:
    """``x-codex-*`` plan headers for windows used ``usage["primary"|"secondary"]`` percent."""
    now = time.time() if now is None else now
    primary, secondary = usage.get("primary", 12.0), usage.get("secondary", 3.0)
    return {
        "x-codex-plan-type": "plus",
        "x-codex-active-limit": "codex",
        "x-codex-primary-used-percent": f"{primary:g}",
        "x-codex-primary-window-minutes": "300",
        "x-codex-primary-reset-after-seconds": "9000",
        "x-codex-primary-reset-at": str(int(now) + 9000),
        "x-codex-secondary-used-percent": f"{secondary:g}",
        "x-codex-secondary-window-minutes": "10080",
        "x-codex-secondary-reset-after-seconds": "400000",
        "x-codex-secondary-reset-at": str(int(now) + 400000),
        "x-codex-credits-has-credits": "False",
        "x-codex-credits-balance": "0",
    }


def usage_body(usage: Mapping[str, float], account_id: str, now: float | None = None) -> Any:
    """``GET /backend-api/wham/usage``'s answer for the same windows."""
    now = time.time() if now is None else now
    primary, secondary = usage.get("primary", 12.0), usage.get("secondary", 3.0)

    def window(used: float, seconds: int, after: int) -> dict[str, Any]:
        return {
            "used_percent": used,
            "limit_window_seconds": seconds,
            "reset_after_seconds": after,
            "reset_at": int(now) + after,
        }

    return {
        "user_id": "user-fake0000000000000000",
        "account_id": account_id,
        "email": "user@example.com",
        "plan_type": "plus",
        "rate_limit": {
            "allowed": max(primary, secondary) < 100,
            "limit_reached": max(primary, secondary) >= 100,
            "primary_window": window(primary, 18000, 9000),
            "secondary_window": window(secondary, 604800, 400000),
        },
        "credits": {"has_credits": False, "unlimited": False, "balance": "0"},
    }
