"""Private files written whole: no reader ever sees half a file, no other user reads one.

Everything the suite keeps on disk goes through here: run-dir state
(supervisord's config, the manifest, health-check and worker state) and
sign-in state (browser profiles, web cookies). ``durable`` writes also fsync
the file and its directory, for what must survive a power cut; state that is
rewritten every second or regenerated on start does without.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["private_dir", "write_private"]


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
