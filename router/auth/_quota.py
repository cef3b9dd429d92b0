"""A subscription's plan usage, as the upstream reports it on every answer.

Claude sends ``anthropic-ratelimit-unified-*`` headers (status, the 5-hour
and 7-day windows' utilization as a fraction and reset as epoch seconds, the
window that binds now as ``representative-claim``); the ChatGPT backend
sends ``x-codex-primary-*`` / ``x-codex-secondary-*`` (used percent, window
length in minutes, reset after N seconds or at an epoch) and answers ``GET
/backend-api/wham/usage`` with the same windows in JSON. All of them become
one ``Quota``: the 5-hour and the weekly window, in percent, with reset
times, kept per credential and shown on /status, /metrics, the management
API and ``python -m router accounts``. Reading headers costs a few dict
lookups and happens once per answer, before the body.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Quota", "QuotaWindow", "quota_from_headers", "quota_from_json", "quota_from_usage"]

_ANTHROPIC = "anthropic-ratelimit-unified-"
_CODEX = "x-codex-"
_FIVE_HOURS = 300
_WEEK = 10080


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    used_percent: float
    resets_at: float | None = None  # epoch seconds
    window_minutes: int | None = None
    status: str | None = None  # Claude: allowed, allowed_warning, rejected

    def to_json(self) -> dict[str, Any]:
        return {
            "used_percent": round(self.used_percent, 2),
            "resets_at": self.resets_at,
            "window_minutes": self.window_minutes,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Quota:
    """The plan's windows as last seen; ``seen_at`` is when (epoch seconds)."""

    seen_at: float
    five_hour: QuotaWindow | None = None
    weekly: QuotaWindow | None = None
    status: str | None = None  # allowed / allowed_warning / rejected (Claude); limit_reached
    binding: str | None = None  # the window that limits now (five_hour, seven_day, ...)
    plan: str | None = None  # Codex: plus, pro, ...
    source: str = "headers"  # or "usage" (the plan usage endpoint)

    def to_json(self) -> dict[str, Any]:
        return {
            "seen_at": self.seen_at,
            "five_hour": self.five_hour.to_json() if self.five_hour else None,
            "weekly": self.weekly.to_json() if self.weekly else None,
            "status": self.status,
            "binding": self.binding,
            "plan": self.plan,
            "source": self.source,
        }


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _anthropic_window(h: Mapping[str, str], key: str, minutes: int) -> QuotaWindow | None:
    used = _num(h.get(f"{_ANTHROPIC}{key}-utilization"))
    if used is None:
        return None
    return QuotaWindow(
        used_percent=used * 100.0,
        resets_at=_num(h.get(f"{_ANTHROPIC}{key}-reset")),
        window_minutes=minutes,
        status=h.get(f"{_ANTHROPIC}{key}-status"),
    )


def _codex_window(
    h: Mapping[str, str], which: str, now: float
) -> tuple[QuotaWindow | None, int | None]:
    used = _num(h.get(f"{_CODEX}{which}-used-percent"))
    if used is None:
        return None, None
    minutes = _num(h.get(f"{_CODEX}{which}-window-minutes"))
    resets = _num(h.get(f"{_CODEX}{which}-reset-at"))
    after = _num(h.get(f"{_CODEX}{which}-reset-after-seconds"))
    if resets is None and after is not None:
        resets = now + after
    size = int(minutes) if minutes is not None else None
    return QuotaWindow(min(max(used, 0.0), 100.0), resets, size), size


def _place(windows: list[tuple[QuotaWindow | None, int | None]]) -> dict[str, QuotaWindow]:
    """Windows by length: 5 hours and a week; unknown lengths in order (first = 5 hours)."""
    out: dict[str, QuotaWindow] = {}
    for window, minutes in windows:
        if window is None:
            continue
        if minutes == _WEEK or (minutes is not None and minutes > _FIVE_HOURS):
            out.setdefault("weekly", window)
        elif minutes == _FIVE_HOURS or "five_hour" not in out:
            out.setdefault("five_hour", window)
        else:
            out.setdefault("weekly", window)
    return out


def quota_from_headers(headers: Mapping[str, str], now: float | None = None) -> Quota | None:
    """The quota an answer's headers report (Claude's or Codex's), or None."""
    now = time.time() if now is None else now
    if f"{_ANTHROPIC}status" in headers or f"{_ANTHROPIC}5h-utilization" in headers:
        return Quota(
            seen_at=now,
            five_hour=_anthropic_window(headers, "5h", _FIVE_HOURS),
            weekly=_anthropic_window(headers, "7d", _WEEK),
            status=headers.get(f"{_ANTHROPIC}status"),
            binding=headers.get(f"{_ANTHROPIC}representative-claim"),
        )
    if f"{_CODEX}primary-used-percent" in headers or f"{_CODEX}secondary-used-percent" in headers:
        placed = _place([_codex_window(headers, w, now) for w in ("primary", "secondary")])
        return Quota(
            seen_at=now,
            five_hour=placed.get("five_hour"),
            weekly=placed.get("weekly"),
            plan=headers.get(f"{_CODEX}plan-type"),
            binding=headers.get(f"{_CODEX}active-limit"),
        )
    return None


def quota_from_usage(body: Any, now: float | None = None) -> Quota | None:
    """``GET /backend-api/wham/usage``'s answer as a Quota (None when it has no windows)."""
    now = time.time() if now is None else now
    if not isinstance(body, dict):
        return None
    limits = body.get("rate_limit")
    if not isinstance(limits, dict):
        return None
    found: list[tuple[QuotaWindow | None, int | None]] = []
    for name in ("primary_window", "secondary_window"):
        w = limits.get(name)
        used = _num(w.get("used_percent")) if isinstance(w, dict) else None
        if not isinstance(w, dict) or used is None:
            continue
        seconds = _num(w.get("limit_window_seconds"))
        resets = _num(w.get("reset_at"))
        after = _num(w.get("reset_after_seconds"))
        if resets is None and after is not None:
            resets = now + after
        minutes = int(seconds // 60) if seconds is not None else None
        found.append((QuotaWindow(min(max(used, 0.0), 100.0), resets, minutes), minutes))
    placed = _place(found)
    if not placed:
        return None
    reached = limits.get("limit_reached") is True or limits.get("allowed") is False
    return Quota(
        seen_at=now,
        five_hour=placed.get("five_hour"),
        weekly=placed.get("weekly"),
        status="limit_reached" if reached else "allowed",
        plan=str(body["plan_type"]) if body.get("plan_type") else None,
        source="usage",
    )


def quota_from_json(doc: Any) -> Quota | None:
    """A Quota back from ``to_json`` (another worker's published views)."""
    if not isinstance(doc, dict) or _num(doc.get("seen_at")) is None:
        return None

    def window(w: Any) -> QuotaWindow | None:
        if not isinstance(w, dict) or _num(w.get("used_percent")) is None:
            return None
        minutes = w.get("window_minutes")
        return QuotaWindow(
            float(w["used_percent"]),
            _num(w.get("resets_at")),
            int(minutes) if isinstance(minutes, int) else None,
            w.get("status") if isinstance(w.get("status"), str) else None,
        )

    def text(key: str) -> str | None:
        value = doc.get(key)
        return value if isinstance(value, str) else None

    return Quota(
        seen_at=float(doc["seen_at"]),
        five_hour=window(doc.get("five_hour")),
        weekly=window(doc.get("weekly")),
        status=text("status"),
        binding=text("binding"),
        plan=text("plan"),
        source=text("source") or "headers",
    )
