"""The credential store interface; its back-ends are `_files` and `_postgres`.

Every change goes read → modify → ``put(record, expect=version)`` inside
``lock(name)``: the lock makes one writer at a time across processes (a
file lock, or a PostgreSQL advisory lock across routers), the version makes
a write that raced a hand edit fail with ``Conflict`` instead of losing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ._record import AuthRecord

__all__ = ["Conflict", "Store", "StoreError"]


class StoreError(Exception):
    """The store cannot be read or written (disk, database)."""


class Conflict(StoreError):
    """The record changed since it was read; re-read and try again."""


class Store(Protocol):
    """Where credentials live. ``describe(name)`` says where, for humans."""

    async def open(self) -> None:
        """Connect / create what is missing (directory, schema)."""
        ...

    async def close(self) -> None: ...

    async def versions(self) -> Mapping[str, str]:
        """``name -> version`` of every record: cheap, polled to notice changes."""
        ...

    async def get(self, name: str) -> AuthRecord | None:
        """The record, None if absent; StoreError (naming it) if unreadable."""
        ...

    async def put(self, record: AuthRecord, expect: str | None) -> AuthRecord:
        """Write; ``expect`` is the version read before (None: create or replace)."""
        ...

    async def delete(self, name: str) -> bool: ...

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """Exclusive across processes (and routers, for PostgreSQL)."""
        ...

    def describe(self, name: str) -> str: ...
