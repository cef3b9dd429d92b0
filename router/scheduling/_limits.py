"""What a rate limit covers, and how much room a credential has left.

Each upstream says in its own words which limit an answer hit; they decide
whether one model of a credential rests or the whole account:

* Anthropic API keys: limits are set per model class (requests, input and
  output tokens per minute), so a 429 ``rate_limit_error`` rests the model.
* Claude subscriptions: the ``anthropic-ratelimit-unified-representative-claim``
  header names the window that binds: ``five_hour`` / ``seven_day`` are the
  account's; ``seven_day_opus`` / ``seven_day_sonnet`` one model family's.
  Without it, the plan's windows are the account's.
* OpenAI and compatible: limits are per model (``rate_limit_exceeded``, "Rate
  limit reached for gpt-4o in organization … on tokens per min");
  ``insufficient_quota`` is the account's billing.
* Gemini: ``RESOURCE_EXHAUSTED`` with ``google.rpc.QuotaFailure`` violations:
  a ``quotaId`` of ``…PerModel…`` or a ``model`` dimension rests the model;
  a project-wide quota (no model) the key.
* Codex (ChatGPT plan), cto.new, the browser services: a usage limit is the
  account's (``usage_limit_reached`` with ``resets_in_seconds``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import orjson

from router.auth import Credential
from router.errors import UpstreamHTTPError

__all__ = ["Scope", "headroom_from_headers", "limit_scope", "room"]

Scope = Literal["model", "account"]

_PER_MODEL_KINDS = frozenset({"anthropic", "openai-compatible", "gemini"})
_ACCOUNT_CODES = frozenset(
    {"insufficient_quota", "usage_limit_reached", "usage_not_included", "billing_hard_limit"}
)
_MODEL_CLAIMS = ("opus", "sonnet", "haiku")
# (remaining, limit) header pairs of the standard and Anthropic rate-limit headers.
_PAIRS = tuple(
    (f"{prefix}remaining-{what}", f"{prefix}limit-{what}")
    for prefix in ("x-ratelimit-",)
    for what in ("requests", "tokens")
) + tuple(
    (f"anthropic-ratelimit-{what}-remaining", f"anthropic-ratelimit-{what}-limit")
    for what in ("requests", "tokens", "input-tokens", "output-tokens")
)


def limit_scope(kind: str, error: UpstreamHTTPError) -> Scope:
    """Whether the limit ``error`` reports covers one model or the whole credential."""
    claim = error.headers.get("anthropic-ratelimit-unified-representative-claim", "")
    if claim:
        return "model" if any(m in claim for m in _MODEL_CLAIMS) else "account"
    doc = _json(error.body)
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("type") or err.get("error_type")
        if isinstance(code, str) and code in _ACCOUNT_CODES:
            return "account"
        details = err.get("details")
        if kind == "gemini" and isinstance(details, list):
            return _gemini_scope(details)
    return "model" if kind in _PER_MODEL_KINDS else "account"


def _gemini_scope(details: list[Any]) -> Scope:
    """Gemini names the quota: per model (``…PerModel…``, a ``model`` dimension), or not."""
    seen = False
    for detail in details:
        if not isinstance(detail, dict) or not str(detail.get("@type", "")).endswith(
            "QuotaFailure"
        ):
            continue
        for v in detail.get("violations") or ():
            if not isinstance(v, dict):
                continue
            seen = True
            dims = v.get("quotaDimensions")
            if "PerModel" in str(v.get("quotaId", "")) or (
                isinstance(dims, dict) and "model" in dims
            ):
                return "model"
    return "account" if seen else "model"


def _json(body: bytes) -> Any:
    if not body or body[:1] not in (b"{", b"["):
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc[0] if isinstance(doc, list) and doc else doc


def headroom_from_headers(headers: Mapping[str, str]) -> float | None:
    """The fraction left of the tightest limit the standard headers report, or None."""
    out: float | None = None
    for remaining, limit in _PAIRS:
        left = headers.get(remaining)
        if left is None:  # most answers carry none of them: one lookup each, not two
            continue
        whole = headers.get(limit)
        if not whole:
            continue
        try:
            frac = float(left) / float(whole)
        except (ValueError, ZeroDivisionError):
            continue
        if frac == frac:  # not NaN
            frac = min(1.0, max(0.0, frac))
            out = frac if out is None else min(out, frac)
    return out


def room(cred: Credential, now: float) -> float:
    """How much a credential has left, 0..1: the tightest of the plan's windows (the
    subscription headers, ``Credential.quota``) and the standard limits; 1 when unknown.
    A window whose reset time has passed counts as fresh."""
    left = 1.0 if cred.headroom is None else cred.headroom
    quota = cred.quota
    if quota is not None:
        if quota.status in ("rejected", "limit_reached"):
            return 0.0
        for window in (quota.five_hour, quota.weekly):
            if window is not None and (window.resets_at is None or window.resets_at > now):
                left = min(left, max(0.0, 1.0 - window.used_percent / 100.0))
    return left
