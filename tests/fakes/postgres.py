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
from pathlib import Path

import asyncpg
import pytest

from suite.config import Environment

from ._base import unused_port

__all__ = ["postgres_dsn", "postgres_server"]


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _missing(reason: str) -> None:
    if Environment.read().ci:
        pytest.fail(f"PostgreSQL is required under CI: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """``host=127.0.0.1 port=N user=postgres`` of a throw-away server."""
    bindir = _bindir()
    if bindir is None:
        _missing("no initdb found (apt-get install postgresql)")
        return
    as_root = os.geteuid() == 0
    if as_root:
        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            _missing("no 'postgres' user to run the server as")
            return
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
        _missing(f"could not start: {out.decode(errors='replace')[-500:]} {log[-500:]}")
        return
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


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
