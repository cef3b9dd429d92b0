"""One stored credential as requests see it: the token in memory, refreshed on demand.

``token()`` is the hot path: no I/O while the token is fresh; inside the
refresh lead it starts a background refresh and still answers; only when the
token has (nearly) lapsed does the caller wait for the single-flight refresh.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ._oauth import RefreshFailed
from ._record import AuthRecord, Token

if TYPE_CHECKING:
    from ._manager import AuthManager

__all__ = ["LiveAuth", "settled"]

_MARGIN_SECONDS = 5.0  # below this a request waits for the refresh instead of racing it


class LiveAuth:
    """One stored credential as requests see it. ``name`` is safe to log."""

    __slots__ = ("name", "type", "record", "_token", "_lock", "_m", "failures", "retry_at", "error")

    def __init__(self, manager: AuthManager, record: AuthRecord) -> None:
        self._m = manager
        self.name = record.name
        self.type = record.type
        self.record = record
        self._token = record.token()
        self._lock = asyncio.Lock()
        self.failures = 0
        self.retry_at = 0.0
        self.error = ""

    def update(self, record: AuthRecord) -> None:
        self.record = record
        self._token = record.token()

    @property
    def current(self) -> Token:
        return self._token

    @property
    def refreshing(self) -> bool:
        """A refresh is under way (it holds the single-flight lock); for /status and /metrics."""
        return self._lock.locked()

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
            raise RefreshFailed(
                f"refresh failing, retry in {self.retry_at - now:.0f}s: {self.error}", refused=False
            )
        return await self._m.refresh(self, tok.access, force=False)

    async def refreshed(self, stale: Token) -> Token:
        """After the upstream said 401 to ``stale``: refresh once (unless someone just did)."""
        return await self._m.refresh(self, stale.access, force=True)


def settled(tok: Token, stale: str, force: bool, lead: float) -> bool:
    """Whether a refresh is no longer needed: the token moved on, or is not due."""
    if force:
        return bool(tok.access) and tok.access != stale
    return bool(tok.access) and time.time() < tok.expires_at - lead
