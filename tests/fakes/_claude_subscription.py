"""What api.anthropic.com demands of a Claude subscription (OAuth) request, and
the plan usage it reports back.

Facts (shared/UPSTREAMS.md, "Claude subscription"; the captures in
shared/fixtures/subscription/claude-code-oauth/): ``system[0]`` is Claude
Code's billing header ``x-anthropic-billing-header: cc_version=<version>.<3
hex>; cc_entrypoint=<entrypoint>;`` whose 3 hex are
``sha256("59cf53e54c78" + m[4] + m[7] + m[20] + version)[:3]`` over the
prompt the user typed; ``metadata.user_id`` is a JSON string with
``device_id`` (64 hex), ``account_uuid`` and ``session_id``. Without the
billing header and without the identity line as first block the API answers
400 "only authorized for use with Claude Code"; a missing or displaced
billing header, or a missing or malformed ``metadata.user_id``, is billed to
extra usage: 400 "Third-party apps now draw from your extra usage". Written
apart from the router's own code on purpose: the fake checks the router, it
must not share its mistakes.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = [
    "EXTRA_USAGE",
    "ONLY_CLAUDE_CODE",
    "check_subscription_request",
    "expected_billing_hex",
    "unified_headers",
]

ONLY_CLAUDE_CODE = (
    "This credential is only authorized for use with Claude Code and cannot be used for other"
    " API requests."
)
EXTRA_USAGE = (
    "Third-party apps now draw from your extra usage, not your plan limits. Add more at"
    " claude.ai/settings/usage and keep going."
)
_IDENTITIES = (
    "You are Claude Code, Anthropic's official CLI for Claude.",
    "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
)
_BILLING = re.compile(
    r"^x-anthropic-billing-header: cc_version=(?P<version>\d+\.\d+\.\d+)\.(?P<hex>[0-9a-f]{3});"
    r" cc_entrypoint=(?P<entry>[a-z-]+);( cch=[0-9a-f]{5};)?$"
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _typed_prompt(messages: Any) -> str:
    """The first user message's last text block after its ``<system-reminder>`` blocks."""
    for msg in messages if isinstance(messages, list) else ():
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            texts = [
                b.get("text", "")
                for b in content or ()
                if isinstance(b, dict) and b.get("type") == "text"
            ]
            typed = [t for t in texts if not t.startswith("<system-reminder>")]
            return (typed or texts or [""])[-1]
    return ""


def expected_billing_hex(prompt: str, version: str) -> str:
    units = prompt.encode("utf-16-le", "surrogatepass")
    picked = ""
    for i in (4, 7, 20):
        unit = units[2 * i : 2 * i + 2]
        picked += unit.decode("utf-16-le", "replace") if len(unit) == 2 else "0"
    return hashlib.sha256(f"59cf53e54c78{picked}{version}".encode()).hexdigest()[:3]


def _first_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list) and system and isinstance(system[0], dict):
        text = system[0].get("text")
        return text if isinstance(text, str) else ""
    return ""


def check_subscription_request(body: Mapping[str, Any]) -> str | None:
    """The 400 message the API gives this OAuth request, or None when it is served."""
    system = body.get("system")
    first = _first_text(system)
    billing = _BILLING.match(first)
    if billing is None:
        if not first.startswith(_IDENTITIES):
            return ONLY_CLAUDE_CODE
        return EXTRA_USAGE  # identity first, but no billing header before it
    if billing["hex"] != expected_billing_hex(
        _typed_prompt(body.get("messages")), billing["version"]
    ):
        return EXTRA_USAGE
    meta = body.get("metadata")
    raw = meta.get("user_id") if isinstance(meta, dict) else None
    try:
        user = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        user = None
    if (
        not isinstance(user, dict)
        or not isinstance(user.get("device_id"), str)
        or not _HEX64.match(user["device_id"])
        or not isinstance(user.get("account_uuid"), str)
        or not isinstance(user.get("session_id"), str)
        or not user["session_id"]
    ):
        return EXTRA_USAGE
    return None


def unified_headers(usage: Mapping[str, float], now: float | None = None) -> dict[str, str]:
    """``anthropic-ratelimit-unified-*`` for a plan at ``usage`` (fractions ``5h``, ``7d``)."""
    now = time.time() if now is None else now
    five, week = usage.get("5h", 0.0), usage.get("7d", 0.0)

    def status(used: float) -> str:
        return "rejected" if used >= 1 else "allowed_warning" if used >= 0.8 else "allowed"

    prefix = "anthropic-ratelimit-unified-"
    return {
        f"{prefix}status": status(max(five, week)),
        f"{prefix}5h-status": status(five),
        f"{prefix}5h-utilization": f"{five:g}",
        f"{prefix}5h-reset": str(int(now // 3600 * 3600 + 5 * 3600)),
        f"{prefix}7d-status": status(week),
        f"{prefix}7d-utilization": f"{week:g}",
        f"{prefix}7d-reset": str(int(now // 86400 * 86400 + 7 * 86400)),
        f"{prefix}representative-claim": "seven_day" if week > five else "five_hour",
        f"{prefix}fallback-percentage": "0.5",
        f"{prefix}overage-status": "rejected",
        f"{prefix}overage-disabled-reason": "org_level_disabled",
    }
