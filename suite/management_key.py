"""The management key of a first run: generated once, kept in the auth dir, read by the router.

A fresh install sets no ``management.key``, and without one the management
API and the console answer 403: nothing could ever be managed from a browser.
So ``make start`` (``ops.supervise start``) and ``python -m router
management-key`` create one when the config has none: 32 random bytes,
URL-safe, in ``<auth.dir>/management.key`` (mode 0600, its directory 0700),
written whole under a temp name and linked into place, so a reader never
sees half a key and two starts at once agree on one key. The router reads
it at start and at every reload, only when ``management.key`` is empty: a
key set in the config always wins. Loopback-only (``management.allow_remote:
false``) stays the default either way.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Literal

from suite.config import Config
from suite.files import private_dir, write_private

__all__ = [
    "KEY_FILE",
    "KeyOrigin",
    "ensure_key",
    "key_origin",
    "key_path",
    "stored_key",
    "with_stored_key",
]

KEY_FILE = "management.key"
KeyOrigin = Literal["config", "file", "generated", "none"]


def key_path(config: Config) -> Path:
    """Where a generated key lives: ``management.key`` in ``auth.dir``."""
    return Path(config.auth.dir).expanduser() / KEY_FILE


def stored_key(config: Config) -> str:
    """The generated key, or "" when there is none (or it cannot be read)."""
    try:
        return key_path(config).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def key_origin(config: Config) -> KeyOrigin:
    """Where the key the router uses comes from: the config, the auth dir's file, or none."""
    if config.management.key:
        return "config"
    return "file" if stored_key(config) else "none"


def with_stored_key(config: Config) -> Config:
    """``config`` with the generated key filled in when it sets none (the config wins)."""
    if config.management.key:
        return config
    key = stored_key(config)
    if not key:
        return config
    return replace(config, management=replace(config.management, key=key))


def ensure_key(config: Config) -> tuple[str, KeyOrigin]:
    """The key to use, generating and storing one if neither the config nor the file has it.

    Returns the key and where it came from (``generated`` when this call made it).
    """
    if config.management.key:
        return config.management.key, "config"
    existing = stored_key(config)
    if existing:
        return existing, "file"
    path = key_path(config)
    private_dir(path.parent)
    key = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{KEY_FILE}.{secrets.token_hex(6)}.new")
    write_private(tmp, key + "\n", durable=True)
    try:
        os.link(tmp, path)  # fails if another start made one first: theirs is kept
    except FileExistsError:
        return stored_key(config), "file"
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return key, "generated"
