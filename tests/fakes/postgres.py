"""A private PostgreSQL for the tests: initdb + pg_ctl in a temp dir, loopback port.

Debian's ``postgresql`` package provides the binaries (``make test`` installs
it when root). The server runs as the ``postgres`` user when the tests run as
root (initdb refuses root). Under CI (``CI`` set) a missing PostgreSQL fails
the tests instead of skipping them. One server per test session (the fixtures
are registered once, in ``tests/conftest.py``); each test gets a fresh database.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg
import pytest

from suite.config import Environment

from ._base import unused_port

__all__ = ["PostgresUnavailable", "postgres_dsn", "postgres_server", "private_postgres"]


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresUnavailable(Exception):
    """No PostgreSQL can be started here; the text says why."""


def _missing(reason: str) -> None:
    if Environment.read().ci:
        pytest.fail(f"PostgreSQL is required under CI: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@contextmanager
def private_postgres() -> Iterator[str]:
    """A throw-away server for as long as the block runs: its base DSN
    ``postgresql://postgres@127.0.0.1:PORT`` (add ``/dbname``). Raises
    ``PostgresUnavailable`` where it cannot start (the bench uses it too)."""
    bindir = _bindir()
    if bindir is None:
        raise PostgresUnavailable("no initdb found (apt-get install postgresql)")
    as_root = os.geteuid() == 0
    if as_root:
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("no 'postgres' user to run the server as") from None
    base = Path(tempfile.mkdtemp(prefix="cliproxy-pg-"))
    data = base / "data"
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        os.chown(base, pg.pw_uid, pg.pw_gid)
    base.chmod(0o700)
    port = unused_port()
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        opts = (
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(base / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
        out = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(
            f"could not start: {out.decode(errors='replace')[-500:]} {log[-500:]}"
        ) from None
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:N`` of a throw-away server (one per session)."""
    with ExitStack() as stack:
        try:
            dsn = stack.enter_context(private_postgres())
        except PostgresUnavailable as exc:
            _missing(str(exc))  # raises: skipped, or failed under CI
            return
        yield dsn


@pytest.fixture
async def postgres_dsn(postgres_server: str) -> AsyncIterator[str]:
    """A fresh database per test on the shared server."""
    name = "t_" + secrets.token_hex(6)
    conn = await asyncpg.connect(f"{postgres_server}/postgres", timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield f"{postgres_server}/{name}"
    conn = await asyncpg.connect(f"{postgres_server}/postgres", timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
