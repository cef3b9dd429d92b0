"""Which back-end a config gets, the config key's checks, and the app's lifecycle."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from router.shared import (
    SHARED,
    HostBackend,
    LocalBackend,
    PostgresBackend,
    SharedStateError,
    StateRecord,
    backend_for,
    backend_name,
    host_path,
)
from suite.config import Config, ConfigError, parse_config

pytestmark = pytest.mark.timeout(60)


def config(environ: dict[str, str] | None = None, **sections: Any) -> Config:
    return parse_config(sections, environ=environ or {})


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({}, "local"),
        ({"server": {"workers": 1}}, "local"),
        ({"server": {"workers": 3}}, "host"),
        ({"auth": {"store": "postgres", "dsn": "postgresql://x@127.0.0.1/db"}}, "postgres"),
        (
            {"server": {"workers": 2}, "auth": {"store": "postgres", "dsn": "postgresql://x@h/d"}},
            "postgres",
        ),
        ({"server": {"workers": 4, "shared_state": "local"}}, "local"),
        ({"server": {"shared_state": "host"}}, "host"),
        (
            {"server": {"shared_state": "postgres"}, "auth": {"dsn": "postgresql://x@h/d"}},
            "postgres",
        ),
    ],
)
def test_the_backend_follows_the_config(sections: dict[str, Any], expected: str) -> None:
    cfg = config(**sections)
    assert backend_name(cfg) == expected
    kind = {"local": LocalBackend, "host": HostBackend, "postgres": PostgresBackend}[expected]
    assert isinstance(backend_for(cfg), kind)


def test_a_bad_value_is_an_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"server\.shared_state: expected one of auto, local"):
        config(server={"shared_state": "redis"})
    with pytest.raises(ConfigError, match=r"server\.shared_state: postgres needs auth\.dsn"):
        config(server={"shared_state": "postgres"})
    with pytest.raises(ConfigError, match="shared_stat"):
        config(server={"shared_stat": "host"})


def test_the_host_file_lives_in_the_run_dir(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = config(
        {"CLIPROXY_RUN_DIR": str(run), "PROMETHEUS_MULTIPROC_DIR": str(run / "prometheus")}
    )
    assert host_path(cfg) == run / "shared-state.sqlite3"
    cfg = config({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")})
    assert host_path(cfg) == tmp_path / "prom" / "shared-state.sqlite3"
    cfg = config(auth={"dir": str(tmp_path / "auth")})
    assert host_path(cfg) == tmp_path / "auth" / "shared-state.sqlite3"


async def _share_between_two_routers(start_router, cfg: Config) -> None:
    one, two = await start_router(cfg), await start_router(cfg)
    a, b = one.app[SHARED], two.app[SHARED]
    assert a.origin != b.origin
    a.publish("p/key1", None, StateRecord(cooling_until=time.time() + 60, strikes=1))
    deadline = time.monotonic() + 1.0
    while b.record("p/key1") is None:
        assert time.monotonic() < deadline, "the other router did not see it within 1 s"
        await asyncio.sleep(0.02)
    assert (await a.hit("key:rpm", 60, 1)).allowed
    assert not (await b.hit("key:rpm", 60, 1)).allowed  # one counter for both


async def test_two_routers_on_one_host_share_through_the_run_dir(start_router, tmp_path) -> None:
    cfg = config({"CLIPROXY_RUN_DIR": str(tmp_path)}, server={"workers": 2})
    await _share_between_two_routers(start_router, cfg)
    assert (tmp_path / "shared-state.sqlite3").stat().st_mode & 0o777 == 0o600


async def test_two_routers_on_one_database_share(start_router, postgres_dsn, tmp_path) -> None:
    cfg = config(auth={"store": "postgres", "dsn": postgres_dsn, "dir": str(tmp_path)})
    await _share_between_two_routers(start_router, cfg)


async def test_the_state_closes_with_the_app(start_router, tmp_path) -> None:
    cfg = config({"CLIPROXY_RUN_DIR": str(tmp_path)}, server={"shared_state": "host"})
    router = await start_router(cfg)
    state = router.app[SHARED]
    assert (await state.hit("k", 60, 5)).allowed
    await router.server.close()
    with pytest.raises(SharedStateError, match="not open"):
        await state.hit("k", 60, 5)
