"""Fixtures for the aistudio service: a fake AI Studio, a router, services in-process.

Real headless Chromium (Debian's ``/usr/bin/chromium``) drives the fake
site. Without Chromium the tests skip on a developer machine and FAIL in CI
(``CI`` set): the Makefile installs it there, so a missing browser is a bug.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aistudio import ProfileStore, Service, Settings, settings_from_config
from suite.config import Config, parse_config
from tests.conftest import RunningRouter, StartRouter, chromium_path
from tests.fakes.aistudio_site import Answer, FakeAIStudio

MODEL = "gemini-2.5-pro-aistudio"


def aistudio_config(
    site: FakeAIStudio,
    auth_dir: Path,
    *,
    pages: int = 3,
    instances: int = 3,
    token: str = "",
    services: dict[str, Any] | None = None,
    timeouts: dict[str, Any] | None = None,
    extra_providers: dict[str, Any] | None = None,
    providers_for_model: list[str] | None = None,
    management_key: str = "",
) -> Config:
    browser = {
        "engine": "chromium",
        "executable_path": chromium_path(),
        "pages": pages,
        "max_instances": instances,
        "headless": True,
        "acquire_timeout": 30,
    }
    provider: dict[str, Any] = {
        "kind": "aistudio",
        "models": ["gemini-2.5-pro-aistudio", "gemini-2.5-flash-aistudio"],
        "browser": browser,
        "page": {"url": site.url, "signin_hosts": [site.signin_host], "load_timeout": 15},
        "health": {"port": 0},
        "login_timeout_seconds": 30,
        "timeouts": timeouts or {"connect": 2, "first_byte": 30, "idle": 30},
    }
    data: dict[str, Any] = {
        "server": {"api_keys": [], "timeouts": {"connect": 2, "first_byte": 30, "idle": 30}},
        "services": {"token": token, **(services or {})},
        "management": {"key": management_key},
        "auth": {"dir": str(auth_dir)},
        "providers": {"aistudio": provider, **(extra_providers or {})},
        "models": {
            "routing": [{"pattern": "-aistudio$", "providers": providers_for_model or ["aistudio"]}]
        },
    }
    return parse_config(data, environ={})


@dataclass
class Stack:
    site: FakeAIStudio
    router: RunningRouter
    config: Config
    auth_dir: Path
    services: list[Service] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        base = settings_from_config(self.config)
        return dataclasses.replace(
            base, relay_url=f"ws://127.0.0.1:{self.router.server.port}/v1/ws"
        )

    async def add_service(self, **changes: Any) -> Service:
        svc = Service(dataclasses.replace(self.settings, **changes))
        await svc.start()
        self.services.append(svc)
        return svc

    async def stop_service(self, svc: Service) -> None:
        await svc.stop()
        self.services.remove(svc)

    def hub(self) -> Any:
        from router.api import STATE

        return self.router.app[STATE].relay


MakeStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(tmp_path: Path, start_router: StartRouter) -> AsyncIterator[MakeStack]:
    """``await make_stack(pages=3, profiles=("default",))``: site + router + one service."""
    stacks: list[Stack] = []

    async def make(
        *,
        profiles: tuple[str, ...] = ("default",),
        services: int = 1,
        default: Answer | None = None,
        **config_kw: Any,
    ) -> Stack:
        site = await FakeAIStudio(default=default or Answer()).start()
        auth_dir = tmp_path / "auth"
        store = ProfileStore(auth_dir)
        for name in profiles:
            store.save(name, site.storage_state())
        config = aistudio_config(site, auth_dir, **config_kw)
        router = await start_router(config)
        stack = Stack(site, router, config, auth_dir)
        stacks.append(stack)
        for _ in range(services):
            await stack.add_service()
        return stack

    yield make
    errors: list[BaseException] = []
    for stack in stacks:
        for svc in list(stack.services):
            try:  # one failing stop must not leave the other services' browsers running
                await svc.stop()
            except Exception as exc:
                errors.append(exc)
        await stack.site.close()
    if errors:
        raise errors[0]


async def wait_until(check: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(step)
    return check()
