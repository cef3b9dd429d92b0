"""Where client keys live: the credential store's place (a file, or a PostgreSQL table).

Every worker and every router reads the same keys: a change made by one (the
CLI, the management API of any worker) is noticed by the others through
``version()``, which they ask twice a second and which is cheap (a ``stat``, or
one small query).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from suite.config import AuthConfig

from ._errors import Change
from ._files import FileKeyStore
from ._key import ClientKey
from ._postgres import PostgresKeyStore

__all__ = ["KeyStore", "open_key_store"]


class KeyStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def version(self) -> str:
        """Changes whenever any key changes."""
        ...

    async def load(self) -> Sequence[ClientKey]:
        """Every key (revoked ones too); an unreadable entry is skipped and logged."""
        ...

    async def create(self, key: ClientKey) -> None:
        """Add a key; ``KeyExists`` if its name is taken."""
        ...

    async def update(self, ref: str, change: Change) -> ClientKey | None:
        """Apply ``change`` to the key with id or name ``ref`` under the store's lock;
        the key as stored, or None if there is none."""
        ...

    def describe(self) -> str: ...


def open_key_store(config: AuthConfig) -> KeyStore:
    """The store of ``auth.store``, not yet opened (no I/O here)."""
    if config.store == "postgres":
        return PostgresKeyStore(config.dsn)
    return FileKeyStore(config.dir)
