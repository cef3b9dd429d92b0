"""The configured credential store: the one place that knows every back-end."""

from __future__ import annotations

from suite.config import AuthConfig

from ._files import FileStore
from ._postgres import PostgresStore
from ._store import Store

__all__ = ["open_store"]


def open_store(config: AuthConfig) -> Store:
    """The configured store, not yet opened (no I/O here)."""
    if config.store == "postgres":
        return PostgresStore(config.dsn)
    return FileStore(config.dir)
