"""The file store: modes, atomic writes under kill -9, hand edits, corrupt files, CLIProxyAPI files."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import time
import warnings
from pathlib import Path

import anthropic
import orjson
import pytest
import structlog

from router.api import STATE
from router.auth import AuthManager, AuthRecord, Conflict, FileStore, InvalidName, check_name
from tests.fakes import FakeAnthropic, Reply
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    claude_record,
    config,
    provider_configs,
    wait_for,
    write_cliproxy_file,
)


def _writer(directory: Path, ready: int) -> None:
    """The child after fork: rewrite one credential forever, big enough to take a while."""
    store = FileStore(directory)
    i = 0
    while True:
        i += 1
        payload = (str(i) * 50000)[: 200000 + i % 997]
        data = {
            "type": "claude",
            "n": i,
            "payload": payload,
            "sha": hashlib.sha256(payload.encode()).hexdigest(),
        }
        store._write(AuthRecord("claude-w@example.com", "claude", data), None)
        if i == 1:
            os.write(ready, b"r")


async def test_modes_and_optimistic_versions(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "auth")
    await store.open()
    rec = await store.put(
        AuthRecord("codex-a@example.com", "codex", {"email": "a@example.com"}), None
    )
    assert (tmp_path / "auth").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "auth" / "codex-a@example.com.json").stat().st_mode & 0o777 == 0o600
    newer = await store.put(rec.with_data(note="1"), rec.version)
    with pytest.raises(Conflict):
        await store.put(rec.with_data(note="2"), rec.version)  # written from a stale read
    assert (await store.get(rec.name)).data["note"] == "1" and newer.version != rec.version


def test_names_cannot_escape_the_directory() -> None:
    for bad in (
        "../claude-x",
        "claude-a/b",
        "claude-..",
        "gemini-a@b.c",
        "claude",
        "claude-x.json",
        ".claude-x",
    ):
        with pytest.raises(InvalidName):
            check_name(bad)
    assert check_name("claude-dev.name+tag@example.com")


def test_a_writer_killed_mid_write_never_leaves_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "claude-w@example.com.json"
    seen = set()
    rounds = 40
    for _ in range(rounds):
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", DeprecationWarning
            )  # fork with threads: the child only writes files
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            try:
                os.close(read_end)
                _writer(tmp_path, write_end)
            finally:
                os._exit(1)
        os.close(write_end)
        assert os.read(read_end, 1) == b"r"
        os.close(read_end)
        time.sleep(random.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        data = orjson.loads(path.read_bytes())  # whole and valid, whichever version
        assert hashlib.sha256(data["payload"].encode()).hexdigest() == data["sha"]
        assert path.stat().st_mode & 0o777 == 0o600
        seen.add(data["n"])
    assert len(seen) > 1  # the kills really landed at different points
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    store = FileStore(tmp_path)
    assert list(asyncio.run(store.versions())) == [
        "claude-w@example.com"
    ]  # temp files are never read
    print(
        f"kill -9 rounds: {rounds}, versions seen: {len(seen)}, temp files left: {len(leftovers)}"
    )


async def test_corrupt_file_is_reported_by_name_and_skipped(tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        write_cliproxy_file(
            auth, claude_record(*oauth.issue(), time.time() + 3600, email="good@example.com")
        )
        (auth / "claude-bad@example.com.json").write_text('{"type": "claude", "access_tok')
        (auth / "aistudio-default.json").write_text("not ours, never read")
        manager = AuthManager(
            config(provider_configs(claude=oauth, anthropic=api), {"dir": str(auth)})
        )
        with structlog.testing.capture_logs() as logs:
            await manager.start()
        try:
            names = {s["name"]: s["state"] for s in manager.summaries()}
            assert names == {
                "claude-good@example.com": "active",
                "claude-bad@example.com": "unreadable",
            }
            warning = next(e for e in logs if e["event"] == "credential skipped: unreadable")
            assert "claude-bad@example.com.json" in warning["error"]
            assert [h.name for h in manager.sources()["claude-oauth"]] == [
                "claude-good@example.com"
            ]
        finally:
            await manager.close()


async def test_cliproxyapi_file_dropped_in_serves_without_restart(
    start_router, tmp_path: Path
) -> None:
    auth = tmp_path / "auth"
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.api_keys = oauth.access
        api.default = Reply(text="from a dropped file")
        r = await start_router(
            config(
                provider_configs(claude=oauth, anthropic=api),
                {"dir": str(auth)},
                api_keys=[CLIENT_KEY],
            )
        )
        state = r.app[STATE]
        assert not state.current.table.servable
        write_cliproxy_file(auth, claude_record(*oauth.issue(), time.time() + 3600))
        await wait_for(
            lambda: "llmux-claude" in state.current.table.servable, what="the file to be picked up"
        )
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            msg = await client.messages.create(
                model="claude-x-test", max_tokens=9, messages=[{"role": "user", "content": "hi"}]
            )
        assert msg.content[0].text == "from a dropped file"
        # Edited by hand (a new token pasted in): used from the next request on.
        path = auth / "claude-user@example.com.json"
        fresh_access, fresh_refresh = oauth.issue()
        data = orjson.loads(path.read_bytes())
        path.write_bytes(
            orjson.dumps({**data, "access_token": fresh_access, "refresh_token": fresh_refresh})
        )
        await wait_for(
            lambda: state.auth.get("claude-user@example.com").current.access == fresh_access,
            what="the edit",
        )
        # Removed by hand: the provider is no longer served.
        path.unlink()
        await wait_for(lambda: not state.current.table.servable, what="the removal")
