"""What the key store raises, and the shape of a change (kept apart so both back-ends
and the interface can import them without importing each other)."""

from __future__ import annotations

from collections.abc import Callable

from ._key import ClientKey

__all__ = ["Change", "KeyExists", "KeyStoreError"]

Change = Callable[[ClientKey], ClientKey]


class KeyStoreError(Exception):
    """The keys cannot be read or written (disk, database, a damaged file)."""


class KeyExists(KeyStoreError):
    """Another key already has this name."""
