"""Recognising a presented client key: one hash and one dict lookup.

A ``Ring`` maps the SHA-256 of every key the router accepts to what it is
(``ActiveKey``): the keys of ``server.api_keys`` (no limit; their id in usage
and logs is ``config:`` and a hash prefix) and the managed keys of the store
(their name). A request's key is hashed once and looked up; nothing is
compared key by key, so the time a lookup takes tells nothing about the keys.
Revoked and expired keys stay in the ring, so that their holder is told why.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from router.errors import Unauthorized

from ._key import LIMIT_FIELDS, ClientKey, compile_models

__all__ = ["LOCAL", "ActiveKey", "Ring", "config_label", "config_view", "managed_entries"]


def config_label(key: bytes) -> str:
    """The id of a ``server.api_keys`` key in usage and logs: never the key."""
    return "config:" + hashlib.sha256(key).hexdigest()[:10]


def config_view(key: bytes) -> dict[str, Any]:
    """A ``server.api_keys`` entry as lists show it (same fields as ``ClientKey.view``):
    its label, never the key; no limit, read-only."""
    label = config_label(key)
    return {
        "id": label,
        "name": label,
        "prefix": None,
        "source": "config",
        "state": "active",
        "created_at": None,
        "expires_at": None,
        "revoked_at": None,
        "models": [],
        **dict.fromkeys(LIMIT_FIELDS),
    }


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """A key as the router enforces it. ``key`` is None for config keys and loopback
    callers (nothing to enforce); ``models`` None allows every model."""

    label: str  # the client id in usage, logs and metrics: the name, config:…, local
    key: ClientKey | None = None
    models: re.Pattern[str] | None = field(default=None, compare=False)

    @property
    def limited(self) -> bool:
        return self.key is not None and self.key.limited

    def refuse_if_unusable(self, now: float) -> None:
        """401 for a revoked or an expired key."""
        key = self.key
        if key is None:
            return
        if key.revoked_at is not None:
            raise Unauthorized(f"this API key ({key.prefix}…) was revoked")
        if key.expires_at is not None and now >= key.expires_at:
            when = datetime.fromtimestamp(key.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise Unauthorized(f"this API key ({key.prefix}…) expired on {when}")

    def allows(self, model: str) -> bool:
        return self.models is None or self.models.fullmatch(model) is not None


LOCAL = ActiveKey("local")  # a loopback caller of a router that has no key at all


def managed_entries(keys: Iterable[ClientKey]) -> dict[bytes, ActiveKey]:
    """Managed keys by digest, their model patterns compiled (once per load)."""
    return {
        bytes.fromhex(key.digest): ActiveKey(key.name, key, compile_models(key.models))
        for key in keys
    }


class Ring:
    """Every accepted key by its SHA-256 digest."""

    __slots__ = ("_entries", "empty")

    def __init__(self, entries: dict[bytes, ActiveKey]) -> None:
        self._entries = entries
        self.empty = not entries

    @classmethod
    def build(cls, config_keys: Iterable[bytes], managed: Iterable[ClientKey]) -> Ring:
        return cls.merge(config_keys, managed_entries(managed))

    @classmethod
    def merge(cls, config_keys: Iterable[bytes], managed: Mapping[bytes, ActiveKey]) -> Ring:
        """The managed entries (compiled once, when the keys loaded) and the config's keys."""
        entries = dict(managed)
        for raw in config_keys:  # a key in both places is the unlimited config key
            entries[hashlib.sha256(raw).digest()] = ActiveKey(config_label(raw))
        return cls(entries)

    def find(self, presented: str) -> ActiveKey | None:
        # Header bytes that are not UTF-8 arrive as surrogates: they round-trip here and
        # match nothing, so they get 401 like any wrong key.
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        return self._entries.get(digest)

    def __len__(self) -> int:
        return len(self._entries)
