"""The management key check, and the limits on wrong keys.

The right key is checked first, in constant time, and always let through: no
lockout, whoever caused it, keeps the administrator out. Wrong keys are limited
twice, so that neither one address nor many can guess at will:

* per address: after :data:`MAX_FAILURES` wrong keys, that address's wrong keys
  get 429 for :data:`BAN_SECONDS`;
* for all addresses together: a bucket of :data:`GLOBAL_BURST` wrong keys,
  refilled by one every :data:`GLOBAL_REFILL_SECONDS`; when it is empty, every
  wrong key gets 429 (a caller rotating through 127.0.0.0/8 shares it).

A 429 still tells the caller its key was wrong (the right one would have
passed): the limits slow guessing down and keep the log short, they do not hide
the answer. What makes guessing hopeless is a long random key; the router warns
at start about a short one (docs/operations.md).
"""

from __future__ import annotations

import hmac

from aiohttp import web

from router.errors import ErrorKind, ProxyError

__all__ = [
    "BAN_SECONDS",
    "GLOBAL_BURST",
    "GLOBAL_REFILL_SECONDS",
    "GUARD",
    "MAX_FAILURES",
    "Banned",
    "ManagementGuard",
    "key_matches",
]

MAX_FAILURES = 5
BAN_SECONDS = 30 * 60
GLOBAL_BURST = 20
GLOBAL_REFILL_SECONDS = 6.0
_TRACKED_LIMIT = 10_000


class Banned(ProxyError):
    status = 429
    kind = ErrorKind.RATE_LIMIT

    def __init__(self, wait: float, why: str) -> None:
        super().__init__(f"too many wrong management keys {why}; retry in {max(1, round(wait))}s")
        self.retry_after = wait


def key_matches(presented: str, key: str) -> bool:
    """Constant-time comparison. Header bytes that are not UTF-8 arrive as surrogates:
    they round-trip here (no exception, so no 500) and match no configured key."""
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), key.encode())


class ManagementGuard:
    """Wrong-key counting per address and for everyone, and the refusals it leads to."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        ban_seconds: float = BAN_SECONDS,
        burst: int = GLOBAL_BURST,
        refill_seconds: float = GLOBAL_REFILL_SECONDS,
    ) -> None:
        self.max_failures = max_failures
        self.ban_seconds = ban_seconds
        self.burst = burst
        self.refill_seconds = refill_seconds
        self._failures: dict[str, int] = {}
        self._banned: dict[str, float] = {}
        self._tokens = float(burst)
        self._filled_at: float | None = None

    def refused_for(self, address: str, now: float) -> tuple[float, str]:
        """How long wrong keys from ``address`` are refused (0: not now), and why."""
        until = self._banned.get(address)
        if until is not None:
            if now < until:
                return until - now, "from this address"
            del self._banned[address]
        tokens = self._refill(now)
        if tokens < 1:
            return (1 - tokens) * self.refill_seconds, "from all addresses"
        return 0.0, ""

    def failed(self, address: str, now: float) -> None:
        self._tokens = self._refill(now) - 1
        if len(self._failures) >= _TRACKED_LIMIT:
            self._failures.clear()
        count = self._failures.get(address, 0) + 1
        if count >= self.max_failures:
            self._failures.pop(address, None)
            if len(self._banned) >= _TRACKED_LIMIT:
                self._banned = {a: t for a, t in self._banned.items() if t > now}
            self._banned[address] = now + self.ban_seconds
        else:
            self._failures[address] = count

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _refill(self, now: float) -> float:
        if self._filled_at is not None:
            gained = (now - self._filled_at) / self.refill_seconds
            self._tokens = min(float(self.burst), self._tokens + gained)
        self._filled_at = now
        return self._tokens


GUARD: web.AppKey[ManagementGuard] = web.AppKey("cliproxy_management_guard", ManagementGuard)
