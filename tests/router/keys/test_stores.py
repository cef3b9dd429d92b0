"""Both key stores keep the same contract: hashed keys, unique names, a version that
moves with every write, no change lost when writers race, damaged entries skipped.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from router.keys import (
    ClientKey,
    FileKeyStore,
    KeyExists,
    KeyStore,
    PostgresKeyStore,
    compile_models,
    hash_key,
    parse_expiry,
)

Factory = Callable[[], KeyStore]


@pytest.fixture(params=["file", "postgres"])
def stores(request, tmp_path: Path) -> Factory:
    """Makes stores on one place: two of them are two workers (or two routers)."""
    if request.param == "file":
        where = tmp_path / "auth"
        return lambda: FileKeyStore(where)
    dsn = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresKeyStore(dsn)


@pytest.fixture
async def opened() -> AsyncIterator[list[KeyStore]]:
    """Stores a test opened, closed at its end."""
    made: list[KeyStore] = []
    yield made
    for store in made:
        await store.close()


async def _two(factory: Factory, opened: list[KeyStore]) -> tuple[KeyStore, KeyStore]:
    for _ in range(2):
        opened.append(factory())
        await opened[-1].open()
    return opened[-2], opened[-1]


async def test_create_update_and_the_version(stores: Factory, opened) -> None:
    one, two = await _two(stores, opened)
    start = await two.version()
    key, secret = ClientKey.new("alice", models=["gpt-*"], requests_per_minute=5)
    await one.create(key)
    after_create = await two.version()
    assert after_create != start
    (loaded,) = await two.load()
    assert loaded == key and loaded.digest == hash_key(secret)
    with pytest.raises(KeyExists):
        await two.create(ClientKey.new("alice")[0])
    changed = await two.update("alice", lambda k: k.changed({"tokens_per_day": 1000}))
    assert changed is not None and changed.tokens_per_day == 1000
    assert await one.version() not in (start, after_create)
    assert (await one.load())[0].tokens_per_day == 1000
    await one.create(ClientKey.new("bob")[0])
    with pytest.raises(KeyExists):
        await one.update(key.id, lambda k: replace(k, name="bob"))
    assert await one.update("nobody", lambda k: k) is None
    assert sorted(k.name for k in await two.load()) == ["alice", "bob"]


async def test_racing_writers_lose_nothing(stores: Factory, opened) -> None:
    """Two workers adding keys and changing one key at once: every key and every
    change is there afterwards (the file lock / the row lock)."""
    one, two = await _two(stores, opened)
    await one.create(ClientKey.new("counter", tokens_per_day=1)[0])

    async def bump(store: KeyStore) -> None:
        await store.update(
            "counter", lambda k: replace(k, tokens_per_day=(k.tokens_per_day or 0) + 1)
        )

    jobs = [one.create(ClientKey.new(f"k{i}")[0]) for i in range(10)]
    jobs += [two.create(ClientKey.new(f"k{i}")[0]) for i in range(10, 20)]
    jobs += [bump(one if i % 2 else two) for i in range(20)]
    await asyncio.gather(*jobs)
    keys = {k.name: k for k in await one.load()}
    assert len(keys) == 21 and keys["counter"].tokens_per_day == 21


async def test_the_file_is_private_and_holds_no_key(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "auth")
    key, secret = ClientKey.new("alice")
    await store.create(key)
    path = tmp_path / "auth" / "client-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert secret not in text and secret[8:] not in text and hash_key(secret) in text
    assert not [p for p in path.parent.iterdir() if ".tmp" in p.name]


async def test_a_damaged_entry_is_skipped_not_fatal(tmp_path: Path, capsys) -> None:
    store = FileKeyStore(tmp_path / "auth")
    await store.create(ClientKey.new("good")[0])
    path = tmp_path / "auth" / "client-keys.json"
    doc = json.loads(path.read_text())
    doc["keys"].append({"id": "k_bad", "name": "bad", "sha256": "not-a-hash"})
    path.write_text(json.dumps(doc))
    assert [k.name for k in await store.load()] == ["good"]


async def test_a_damaged_row_is_skipped_not_fatal(postgres_dsn: str) -> None:
    store = PostgresKeyStore(postgres_dsn)
    await store.open()
    try:
        await store.create(ClientKey.new("good")[0])
        conn = await asyncpg.connect(postgres_dsn)
        try:
            await conn.execute(
                "INSERT INTO cliproxy_client_keys (id, name, sha256, data, version)"
                " VALUES ('k_bad', 'bad', 'x', '{\"name\": 5}', 99)"
            )
        finally:
            await conn.close()
        assert [k.name for k in await store.load()] == ["good"]
    finally:
        await store.close()


def test_model_patterns_are_whole_name_globs() -> None:
    allow = compile_models(["gpt-*", "claude-sonnet-?-*", "gemini-2.5-[fp]*"])
    assert allow is not None
    for model in ("gpt-4o", "gpt-", "claude-sonnet-4-5", "gemini-2.5-flash", "gemini-2.5-pro"):
        assert allow.fullmatch(model), model
    for model in ("xgpt-4o", "GPT-4o", "claude-sonnet-45", "gemini-2.5-lite", "claude-opus-4"):
        assert not allow.fullmatch(model), model
    assert compile_models([]) is None and compile_models(["*", "gpt-*"]) is None
    dots = compile_models(["a.b"])
    assert dots is not None and not dots.fullmatch("axb")  # a dot is a dot, not "any"


def test_a_hostile_model_name_takes_no_time() -> None:
    """Globs compile to patterns without nested repetition: a long near-miss is linear."""
    import time

    allow = compile_models(["*a*a*a*a*a*b"])
    assert allow is not None
    started = time.perf_counter()
    assert not allow.fullmatch("a" * 20_000)
    assert time.perf_counter() - started < 0.5


def test_expiry_forms() -> None:
    now = 1_700_000_000.0
    assert parse_expiry("30d", now) == now + 30 * 86400
    assert parse_expiry("12h", now) == now + 12 * 3600
    assert parse_expiry("2026-07-01", now) == 1782864000.0
    assert parse_expiry("2026-07-01T12:00:00+02:00", now) == 1782900000.0
    assert parse_expiry(None, now) is None and parse_expiry(1800000000, now) == 1800000000.0
