"""Fixtures of the shared-state tests: one store per test, on each back-end.

``store`` names a fresh store (``local``, ``host``: an SQLite file in a temp
dir, ``postgres``: a fresh database on the private server); ``open_backend``
opens as many back-ends on it as a test needs (two "workers"), closed at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from router.shared import HostBackend, LocalBackend, PostgresBackend, SharedBackend

BACKENDS = ["local", "host", "postgres"]
SHARED_BACKENDS = ["host", "postgres"]


@dataclass(frozen=True, slots=True)
class Store:
    kind: str
    where: str  # the SQLite path or the DSN; "" for local

    def backend(self, local: LocalBackend | None = None) -> SharedBackend:
        if self.kind == "host":
            return HostBackend(Path(self.where))
        if self.kind == "postgres":
            return PostgresBackend(self.where)
        return local or LocalBackend()


def _store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    kind = request.param
    if kind == "postgres":
        return Store(kind, request.getfixturevalue("postgres_dsn"))
    if kind == "host":
        return Store(kind, str(tmp_path / "run" / "shared-state.sqlite3"))
    return Store(kind, "")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield _store(request, tmp_path)


@pytest.fixture(params=SHARED_BACKENDS)
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield _store(request, tmp_path)


@pytest.fixture
async def open_backend(store: Store) -> AsyncIterator[Callable[[], object]]:
    """``await open_backend()``: one more opened back-end on ``store`` (the local one is
    a single object: it is what every "worker" of one process shares)."""
    opened: list[SharedBackend] = []
    local = LocalBackend()

    async def make() -> SharedBackend:
        backend = store.backend(local)
        await backend.open()
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        await backend.close()
