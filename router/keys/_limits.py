"""A managed key's policy, enforced before any upstream is called.

In this order, each check only for a key that has the limit:

1. the model must match one of the key's patterns (else 403);
2. tokens today (a UTC day) and this month (a UTC calendar month) must be
   under their limits (``peek``; else 429 until the day or month ends);
3. one request is counted against requests per minute (``hit``; else 429
   until the window ends). A refused request does not count.

After the answer, the tokens it used (input + output, as the upstream
reported them) are added to the day's and the month's counters (``add``).
The counters are the shared state's (docs/shared-state.md): exact across the
workers of a host and the routers sharing PostgreSQL. A request that starts
under a token limit is served whole, so requests in flight when a limit is
reached can carry it past; the next request is refused.

If the shared store cannot be reached, limits let requests through (a warning
a minute): an outage of the counters must not refuse every client.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web

from router.errors import ErrorKind, Forbidden, ProxyError
from router.shared import SHARED, SharedState, SharedStateError
from suite.logging import get_logger

from ._key import ClientKey
from ._ring import ActiveKey

__all__ = [
    "REQUEST_KEY",
    "KeyLimited",
    "ModelNotAllowed",
    "admit",
    "admit_request",
    "key_usage",
    "settle",
    "settle_request",
]

log = get_logger("router.keys")
MINUTE = 60.0
DAY = 86400.0
MONTH = 31 * DAY  # a month's counter is named by the month; 31 days outlive any month
_WARN_SECONDS = 60.0
REQUEST_KEY: web.RequestKey[ActiveKey] = web.RequestKey("cliproxy_client_key", ActiveKey)
"""A managed key with a policy, set on the request by the middleware (absent otherwise)."""


class _Warnings:
    """One warning a minute while the shared store is down, not one per request."""

    def __init__(self) -> None:
        self.at = -_WARN_SECONDS

    def __call__(self, event: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self.at >= _WARN_SECONDS:
            self.at = now
            log.warning(event, error=str(exc)[:300])


_warn = _Warnings()


class ModelNotAllowed(Forbidden):
    """403: the key may not use this model."""


class KeyLimited(ProxyError):
    """429 with ``Retry-After``: the key reached one of its limits."""

    status = 429
    kind = ErrorKind.RATE_LIMIT

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1.0, retry_after)


def _rpm_key(key: ClientKey) -> str:
    return f"clientkey:{key.id}:rpm"


def _day_key(key: ClientKey) -> str:
    return f"clientkey:{key.id}:tokens-day"


def _month_key(key: ClientKey, now: float) -> str:
    return f"clientkey:{key.id}:tokens-month:{datetime.fromtimestamp(now, UTC):%Y-%m}"


def _next_month(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


async def admit(shared: SharedState, active: ActiveKey, model: str) -> None:
    """Refuse the request (403 or 429, raised) unless the key's policy allows it now."""
    key = active.key
    if key is None:
        return
    if not active.allows(model):
        shown = model if len(model) <= 64 else model[:64] + "…"
        raise ModelNotAllowed(
            f"this API key may not use model '{shown}' (allowed: {', '.join(key.models)})",
            param="model",
        )
    now = time.time()
    try:
        if key.tokens_per_day is not None:
            day = await shared.peek(_day_key(key), DAY, aligned=True)
            if day.total >= key.tokens_per_day:
                raise KeyLimited(
                    f"this API key has used its {key.tokens_per_day} tokens for today (UTC)",
                    day.resets_at - now,
                )
        if key.monthly_token_budget is not None:
            month = await shared.peek(_month_key(key, now), MONTH)
            if month.total >= key.monthly_token_budget:
                raise KeyLimited(
                    f"this API key has used its monthly budget of"
                    f" {key.monthly_token_budget} tokens",
                    _next_month(now) - now,
                )
        if key.requests_per_minute is not None:
            hit = await shared.hit(_rpm_key(key), MINUTE, key.requests_per_minute)
            if not hit.allowed:
                raise KeyLimited(
                    f"this API key is limited to {key.requests_per_minute} requests per minute",
                    hit.retry_after,
                )
    except SharedStateError as exc:
        _warn("client key limits not enforced: shared state unreachable", exc)


async def settle(shared: SharedState, active: ActiveKey, tokens: int) -> None:
    """Add what a request used to the key's token counters (those it has limits for)."""
    key = active.key
    if key is None or tokens <= 0:
        return
    try:
        if key.tokens_per_day is not None:
            await shared.add(_day_key(key), DAY, tokens, aligned=True)
        if key.monthly_token_budget is not None:
            await shared.add(_month_key(key, time.time()), MONTH, tokens)
    except SharedStateError as exc:
        _warn("client key tokens not counted: shared state unreachable", exc)


async def key_usage(shared: SharedState, key: ClientKey) -> dict[str, float | None]:
    """The key's counters now (None: the key has no such limit, or the store is down)."""
    out: dict[str, float | None] = {
        "requests_this_minute": None,
        "tokens_today": None,
        "tokens_this_month": None,
    }
    try:
        if key.requests_per_minute is not None:
            out["requests_this_minute"] = (await shared.peek(_rpm_key(key), MINUTE)).total
        if key.tokens_per_day is not None:
            out["tokens_today"] = (await shared.peek(_day_key(key), DAY, aligned=True)).total
        if key.monthly_token_budget is not None:
            month = await shared.peek(_month_key(key, time.time()), MONTH)
            out["tokens_this_month"] = month.total
    except SharedStateError:
        pass
    return out


async def admit_request(request: web.Request, model: str) -> None:
    """``admit`` for the request's key, if it has a policy (one dict lookup if not)."""
    active = request.get(REQUEST_KEY)
    if active is not None:
        await admit(request.app[SHARED], active, model)


async def settle_request(request: web.Request, tokens: int) -> None:
    """``settle`` for the request's key, if it has a policy."""
    active = request.get(REQUEST_KEY)
    if active is not None and tokens > 0:
        await settle(request.app[SHARED], active, tokens)
