"""``ClientKeys`` (``app[CLIENT_KEYS]``): a worker's view of the client keys, kept current.

The managed keys are loaded from the store when the router starts and again
whenever the store's version changes: every worker asks twice a second, so a key
added, changed or revoked by the CLI, or by any worker's or router's management
API, is honoured everywhere within about half a second (the worker that made a
change reloads at once). A store that cannot be read keeps the keys last loaded
(at start: none, only ``server.api_keys``) and is asked again at the next poll.

The ring (``ring()``) is rebuilt only when the keys load or the router takes a new
snapshot (a reload, a sign-in: the config's keys are a new tuple), from the managed
entries compiled at load, so a request pays for an identity check and a dict lookup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from suite.config import Config
from suite.logging import get_logger
from suite.tasks import spawn, stop

from ._errors import KeyStoreError
from ._key import ClientKey, find_key
from ._ring import ActiveKey, Ring, managed_entries
from ._store import KeyStore, open_key_store

__all__ = ["CLIENT_KEYS", "ClientKeys", "client_keys_context"]

log = get_logger("router.keys")
POLL_SECONDS = 0.5
_WARN_SECONDS = 60.0


class ClientKeys:
    def __init__(self, config: Config, store: KeyStore | None = None) -> None:
        self.store = store or open_key_store(config.auth)
        self.poll_seconds = POLL_SECONDS
        self.keys: tuple[ClientKey, ...] = ()
        self._version: str | None = None
        self._opened = False
        self._config_keys: tuple[bytes, ...] | None = None
        self._managed: dict[bytes, ActiveKey] = {}
        self._ring = Ring({})
        self._poller: asyncio.Task[None] | None = None
        self._warned_at = -_WARN_SECONDS

    # -- the request path ------------------------------------------------------------

    def ring(self, config_keys: tuple[bytes, ...]) -> Ring:
        """The ring for this config's keys and the managed keys (rebuilt on change only)."""
        if config_keys is not self._config_keys:
            self._config_keys = config_keys
            self._ring = Ring.merge(config_keys, self._managed)
        return self._ring

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.refresh()
        except KeyStoreError as exc:
            log.error(
                "client keys unavailable; retrying", store=self.store.describe(), error=str(exc)
            )
        self._poller = spawn(self._poll_forever(), name="client-keys-poll")

    async def close(self) -> None:
        await stop(self._poller)
        self._poller = None
        await self.store.close()

    async def refresh(self) -> bool:
        """Reload the keys if the store changed; True if it did."""
        if not self._opened:
            await self.store.open()
            self._opened = True
        version = await self.store.version()
        if version == self._version:
            return False
        keys = tuple(await self.store.load())
        self._version = version
        self.keys = keys
        self._managed = managed_entries(keys)
        self._ring = Ring.merge(self._config_keys or (), self._managed)
        log.info("client keys loaded", count=len(keys))
        return True

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.refresh()
            except KeyStoreError as exc:
                now = time.monotonic()
                if now - self._warned_at >= _WARN_SECONDS:
                    self._warned_at = now
                    log.warning("client keys store unreachable", error=str(exc)[:300])

    # -- management ------------------------------------------------------------------

    async def create(self, fields: Mapping[str, Any]) -> tuple[ClientKey, str]:
        """A new key with ``fields`` (``name`` required); returns it and the key itself."""
        rest = dict(fields)
        key, secret = ClientKey.new(rest.pop("name", None), **rest)
        await self.store.create(key)
        await self.refresh()
        return key, secret

    async def update(self, ref: str, fields: Mapping[str, Any]) -> ClientKey | None:
        key = await self.store.update(ref, lambda k: k.changed(fields))
        await self.refresh()
        return key

    async def revoke(self, ref: str) -> ClientKey | None:
        now = time.time()
        key = await self.store.update(
            ref, lambda k: k if k.revoked_at is not None else replace(k, revoked_at=now)
        )
        await self.refresh()
        return key

    async def get(self, ref: str) -> ClientKey | None:
        await self.refresh()
        return find_key(self.keys, ref)


CLIENT_KEYS = web.AppKey("cliproxy_client_keys", ClientKeys)


async def client_keys_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the keys loaded and watched while the app runs."""
    keys = app[CLIENT_KEYS]
    await keys.start()
    try:
        yield
    finally:
        await keys.close()
