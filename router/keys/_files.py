"""The file store of client keys: one JSON file, ``client-keys.json`` in ``auth.dir``.

Mode 0600, replaced whole (temp file, fsync, rename: ``suite.files``), so a
reader sees the old keys or the new ones, never part of a file. A change is
read, modified and written under an advisory ``flock`` (``.locks/client-keys.lock``),
so the CLI and every worker can change keys at the same time without losing
one. The version is the file's identity (inode, size, times): a ``stat``, cheap
enough to ask twice a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import orjson

from suite.files import file_lock, write_private
from suite.logging import get_logger

from ._errors import Change, KeyExists, KeyStoreError
from ._key import ClientKey, find_key

__all__ = ["FILE_NAME", "FileKeyStore"]

log = get_logger("router.keys")
FILE_NAME = "client-keys.json"
_LOCK_WAIT_SECONDS = 30.0


class FileKeyStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory).expanduser()
        self.path = self.dir / FILE_NAME

    def describe(self) -> str:
        return str(self.path)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def version(self) -> str:
        try:  # a stat of one local file: microseconds, not worth a thread
            st = os.stat(self.path)
        except FileNotFoundError:
            return "absent"
        except OSError as exc:
            raise KeyStoreError(f"{self.path}: cannot stat ({exc.strerror})") from None
        return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}"

    async def load(self) -> Sequence[ClientKey]:
        return await asyncio.to_thread(self._read)

    async def create(self, key: ClientKey) -> None:
        await asyncio.to_thread(self._create, key)

    async def update(self, ref: str, change: Change) -> ClientKey | None:
        return await asyncio.to_thread(self._update, ref, change)

    # -- in a thread -------------------------------------------------------------------

    def _read(self) -> list[ClientKey]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise KeyStoreError(f"{self.path}: cannot read ({exc.strerror})") from None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise KeyStoreError(f"{self.path}: not valid JSON ({exc})") from None
        items = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise KeyStoreError(f'{self.path}: expected {{"keys": [...]}}')
        out: list[ClientKey] = []
        for n, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise ValueError("not an object")
                out.append(ClientKey.from_json(item))
            except ValueError as exc:
                log.error("client key skipped", file=str(self.path), entry=n, error=str(exc))
        return out

    def _write(self, keys: Sequence[ClientKey]) -> None:
        doc = {"keys": [k.to_json() for k in keys]}
        try:
            write_private(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2), durable=True)
        except OSError as exc:
            raise KeyStoreError(f"{self.path}: cannot write ({exc.strerror})") from None

    def _create(self, key: ClientKey) -> None:
        with self._locked():
            keys = self._read()
            if any(k.name == key.name for k in keys):
                raise KeyExists(f"a key named {key.name!r} exists already")
            self._write([*keys, key])

    def _update(self, ref: str, change: Change) -> ClientKey | None:
        with self._locked():
            keys = self._read()
            key = find_key(keys, ref)
            if key is None:
                return None
            new = change(key)
            if any(k.name == new.name and k.id != new.id for k in keys):
                raise KeyExists(f"a key named {new.name!r} exists already")
            self._write([new if k.id == key.id else k for k in keys])
            return new

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return file_lock(self.dir / ".locks" / "client-keys.lock", _LOCK_WAIT_SECONDS, self._error)

    def _error(self, why: str) -> KeyStoreError:
        return KeyStoreError(f"{self.path}: {why}")
