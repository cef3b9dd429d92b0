"""One stored credential as requests see it: the token in memory, refreshed on demand.

``token()`` is the hot path: no I/O while the token is fresh; inside the
refresh lead it starts a background refresh and still answers; only when the
token has (nearly) lapsed does the caller wait for the single-flight refresh.

A failed refresh backs off per credential: ``BACKOFF_BASE_SECONDS`` after the
first failure, doubling with each one after, at most ``BACKOFF_MAX_SECONDS``
(longer when the provider's ``Retry-After`` says so). Until then neither the
background loop nor a request calls the provider again for this credential.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from suite.secrets import SECRETS, record_secrets

from ._oauth import RefreshFailed
from ._record import AuthRecord, Token

__all__ = ["BACKOFF_BASE_SECONDS", "BACKOFF_MAX_SECONDS", "LiveAuth", "Refresher", "settled"]

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 300.0
_MARGIN_SECONDS = 5.0  # below this a request waits for the refresh instead of racing it


class Refresher(Protocol):
    """What a ``LiveAuth`` asks of its owner (the ``AuthManager``)."""

    def lead(self, type_: str) -> float:
        """How long before expiry a token of ``type_`` is refreshed."""
        ...

    def kick(self, h: LiveAuth) -> None:
        """Refresh ``h`` in the background (once, however often asked)."""
        ...

    async def refresh(self, h: LiveAuth, stale: str, *, force: bool) -> Token:
        """Refresh ``h`` now, single-flight, unless someone just did."""
        ...


class LiveAuth:
    """One stored credential as requests see it. ``name`` is safe to log.

    ``lock`` is the single-flight lock: held while the credential is refreshed
    or re-read from the store, so the two never interleave."""

    __slots__ = ("name", "type", "record", "lock", "failures", "retry_at", "error", "_token", "_m")

    def __init__(self, owner: Refresher, record: AuthRecord) -> None:
        self._m = owner
        self.name = record.name
        self.type = record.type
        self.record = record
        self._token = record.token()
        # Every loaded, refreshed or signed-in record passes here: its tokens and
        # cookies are masked in logs and error bodies from now on (suite.secrets).
        SECRETS.set(f"credential:{record.name}", record_secrets(record.data))
        self.lock = asyncio.Lock()
        self.failures = 0
        self.retry_at = 0.0
        self.error = ""

    def update(self, record: AuthRecord) -> None:
        # The previous generation stays masked too: answers already on their way may quote it.
        SECRETS.set(
            f"credential:{record.name}",
            [*record_secrets(record.data), *record_secrets(self.record.data)],
        )
        self.record = record
        self._token = record.token()

    @property
    def current(self) -> Token:
        return self._token

    @property
    def refreshing(self) -> bool:
        """A refresh is under way (it holds the single-flight lock); for /status and /metrics."""
        return self.lock.locked()

    # -- backoff ----------------------------------------------------------------

    def failed(self, reason: str, retry_after: float | None = None) -> float:
        """Note a failed refresh; the seconds until the next try is allowed."""
        self.failures += 1
        wait = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** min(self.failures - 1, 16))
        if retry_after:
            wait = max(wait, min(retry_after, BACKOFF_MAX_SECONDS))
        self.retry_at = time.time() + wait
        self.error = reason
        return wait

    def recovered(self) -> None:
        """A refresh worked (or a new login / an operator reset the credential)."""
        self.failures, self.retry_at, self.error = 0, 0.0, ""

    def backing_off(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.retry_at

    # -- what requests call -----------------------------------------------------

    async def token(self) -> Token:
        """A usable token: the one in memory while it is fresh (no I/O at all)."""
        tok = self._token
        now = time.time()
        lead = self._m.lead(self.type)
        if tok.access and now < tok.expires_at - lead:
            return tok
        margin = min(_MARGIN_SECONDS, lead / 2)
        if tok.access and now < tok.expires_at - margin:
            self._m.kick(self)  # due soon: refresh in the background, serve this one
            return tok
        if now < self.retry_at:
            if tok.access and now < tok.expires_at:
                return tok
            raise self.waiting(now)
        return await self._m.refresh(self, tok.access, force=False)

    async def refreshed(self, stale: Token) -> Token:
        """After the upstream said 401 to ``stale``: refresh once (unless someone just did)."""
        return await self._m.refresh(self, stale.access, force=True)

    def waiting(self, now: float | None = None) -> RefreshFailed:
        """The error for a caller that arrives while refreshes are backing off."""
        left = self.retry_at - (time.time() if now is None else now)
        return RefreshFailed(f"refresh failing, retry in {left:.0f}s: {self.error}", refused=False)


def settled(tok: Token, stale: str, force: bool, lead: float) -> bool:
    """Whether a refresh is no longer needed: the token moved on, or is not due."""
    if force:
        return bool(tok.access) and tok.access != stale
    return bool(tok.access) and time.time() < tok.expires_at - lead
