"""Private files written whole: no reader ever sees half a file, no other user reads one.

Everything the suite keeps on disk goes through here: run-dir state
(supervisord's config, the manifest, health-check and worker state) and
sign-in state (browser profiles, web cookies). ``durable`` writes also fsync
the file and its directory, for what must survive a power cut; state that is
rewritten every second or regenerated on start does without.

A change that reads a file, alters it and writes it back holds ``file_lock``
(an advisory ``flock`` on a lock file next to it), so two processes on the
same directory never interleave; ``file_lock_async`` waits without blocking
the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

__all__ = ["file_lock", "file_lock_async", "private_dir", "write_private"]

_LOCK_POLL_SECONDS = 0.02


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) mode 0700; an existing one is left as it is."""
    if path.is_dir():
        return
    if not path.parent.is_dir():
        private_dir(path.parent)
    path.mkdir(mode=0o700, exist_ok=True)


def write_private(path: Path, data: bytes | str, *, durable: bool = False) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600 (its directory, if new: 0700)."""
    private_dir(path.parent)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)  # exactly, whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def file_lock(path: Path, wait_seconds: float, error: Callable[[str], Exception]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (0600, in a 0700 directory) for the block.

    Blocks the calling thread (call it off the event loop). Raises ``error(why)``
    when the file cannot be opened or another process holds the lock for
    ``wait_seconds``.
    """
    fd = _open_lock(path, error)
    try:
        for pause in _attempts(fd, wait_seconds, error):
            time.sleep(pause)
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextlib.asynccontextmanager
async def file_lock_async(
    path: Path, wait_seconds: float, error: Callable[[str], Exception]
) -> AsyncIterator[None]:
    """``file_lock`` for the event loop: the file is opened in a thread, the wait is a sleep."""
    fd = await asyncio.to_thread(_open_lock, path, error)
    try:
        for pause in _attempts(fd, wait_seconds, error):
            await asyncio.sleep(pause)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _open_lock(path: Path, error: Callable[[str], Exception]) -> int:
    try:
        private_dir(path.parent)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise error(f"cannot lock ({exc.strerror})") from None


def _attempts(fd: int, wait_seconds: float, error: Callable[[str], Exception]) -> Iterator[float]:
    """Yields the pause before the next try while another process holds the lock."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise error("another process holds its lock") from None
        yield _LOCK_POLL_SECONDS
