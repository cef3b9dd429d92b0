"""The file store: one JSON document per credential in ``auth.dir``.

* the directory is created with mode 0700, each file written with 0600;
* a write goes to a temp file in the same directory, is fsynced, renamed
  over the old one and the directory fsynced, so a reader (or a restart
  after ``kill -9``) sees the old document or the new one, never a part;
* a record's version is its file's identity (inode, size, mtime), so a
  file changed by hand is noticed by the poll and by an optimistic write;
* ``lock`` is an advisory ``flock`` per credential, so two processes on the
  same directory (a router and ``python -m router login``) never interleave.

Files written by CLIProxyAPI (``claude-<email>.json``, ``codex-<email>.json``)
are read as they are; other files in the directory (browser profiles,
databases) are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from suite.files import file_lock_async

from ._record import TYPES, AuthRecord, check_name
from ._store import Conflict, StoreError

__all__ = ["FileStore"]

_LOCK_WAIT_SECONDS = 30.0
_STALE_TEMP_SECONDS = 60.0


def _version(st: os.stat_result) -> str:
    return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}"


def _ours(filename: str) -> str | None:
    """The credential name of a file this store manages, else None."""
    if filename.startswith(".") or not filename.endswith(".json"):
        return None
    name = filename[:-5]
    prefix, sep, _ = name.partition("-")
    if not sep or prefix not in TYPES:
        return None
    try:
        return check_name(name)
    except ValueError:
        return None


class FileStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory).expanduser()
        self._local: dict[str, asyncio.Lock] = {}

    def path(self, name: str) -> Path:
        return self.dir / f"{check_name(name)}.json"

    def describe(self, name: str) -> str:
        return str(self.path(name))

    async def open(self) -> None:
        await asyncio.to_thread(self._ensure_dir)
        await asyncio.to_thread(self._sweep_temps)

    async def close(self) -> None:
        return None

    def _ensure_dir(self) -> None:
        if not self.dir.is_dir():
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.dir, 0o700)

    def _sweep_temps(self) -> None:
        """Temp files of writers that died mid-write (never renamed, never read)."""
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.dir):
                if entry.name.startswith(".") and ".tmp-" in entry.name:
                    with contextlib.suppress(OSError):
                        if now - entry.stat().st_mtime > _STALE_TEMP_SECONDS:
                            os.unlink(entry.path)

    # -- reading --------------------------------------------------------------

    async def versions(self) -> Mapping[str, str]:
        return await asyncio.to_thread(self._scan)

    def _scan(self) -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            entries = list(os.scandir(self.dir))
        except (FileNotFoundError, NotADirectoryError):
            return out
        for entry in entries:
            name = _ours(entry.name)
            if name is None:
                continue
            with contextlib.suppress(OSError):
                out[name] = _version(entry.stat(follow_symlinks=False))
        return out

    async def get(self, name: str) -> AuthRecord | None:
        return await asyncio.to_thread(self._read, name)

    def _read(self, name: str) -> AuthRecord | None:
        path = self.path(name)
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                raw = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            return AuthRecord.from_json(name, raw, _version(st))
        except ValueError as exc:
            raise StoreError(f"{path}: not a valid credential file ({exc})") from None

    # -- writing --------------------------------------------------------------

    async def put(self, record: AuthRecord, expect: str | None) -> AuthRecord:
        return await asyncio.to_thread(self._write, record, expect)

    def _write(self, record: AuthRecord, expect: str | None) -> AuthRecord:
        self._ensure_dir()
        path = self.path(record.name)
        if expect is not None:
            try:
                current = _version(os.stat(path))
            except FileNotFoundError:
                current = ""
            if current != expect:
                raise Conflict(f"{path} changed since it was read")
        data = record.to_json()
        tmp = self.dir / f".{record.name}.json.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            dfd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            version = _version(os.stat(path))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise StoreError(f"{path}: cannot write ({exc.strerror})") from None
        return AuthRecord(record.name, record.type, record.data, version)

    async def delete(self, name: str) -> bool:
        path = self.path(name)
        try:
            await asyncio.to_thread(os.unlink, path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"{path}: cannot delete ({exc.strerror})") from None
        return True

    # -- locking --------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        path = self.dir / ".locks" / f"{check_name(name)}.lock"

        def error(why: str) -> StoreError:
            return StoreError(f"{self.describe(name)}: {why}")

        async with self._local.setdefault(name, asyncio.Lock()):
            async with file_lock_async(path, _LOCK_WAIT_SECONDS, error):
                yield
