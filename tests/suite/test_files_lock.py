"""``file_lock``: one holder at a time across open files (processes), a bounded wait."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from suite.files import file_lock, file_lock_async


class Held(Exception):
    pass


def test_second_holder_waits_then_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "x.lock"
    with file_lock(path, 1.0, Held):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        started = time.monotonic()
        with pytest.raises(Held, match="another process holds its lock"):
            with file_lock(path, 0.2, Held):
                pass
        assert 0.2 <= time.monotonic() - started < 5.0
    with file_lock(path, 0.2, Held):  # released on exit
        pass


async def test_async_waiter_gets_the_lock_once_released(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    taken = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with file_lock(path, 1.0, Held):
            taken.set()
            release.wait(5.0)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert taken.wait(5.0)
        waiter = asyncio.ensure_future(_take(path))
        await asyncio.sleep(0.1)
        assert not waiter.done()  # waits while the other holds it
        release.set()
        await asyncio.wait_for(waiter, 5.0)
    finally:
        release.set()
        thread.join(5.0)


async def _take(path: Path) -> None:
    async with file_lock_async(path, 5.0, Held):
        pass


def test_unopenable_lock_file_is_the_callers_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(Held, match="cannot lock"):
        with file_lock(blocker / "x.lock", 0.1, Held):
            pass
    assert os.path.exists(blocker)
