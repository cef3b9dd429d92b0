"""A router's scheduling without sockets: a config, FakeExecutors and a fake clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from router.auth import Credential, CredentialPool
from router.errors import ProxyError, UpstreamError
from router.executors import UpstreamCall
from router.formats import WireBody
from router.routing import Candidate, RoutingTable
from router.scheduling import Policy, Scheduler, serve
from suite.config import parse_config
from tests.fakes.executor import FakeExecutor


class Clock:
    """Time that moves only when told (or when a request sleeps)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Served:
    provider: str
    credential: str
    model: str


@dataclass
class Harness:
    """``await h.request("gpt-5")`` routes like a request: ``Served`` or the ProxyError."""

    table: RoutingTable
    executors: dict[str, FakeExecutor]
    policy: Policy
    clock: Clock = field(default_factory=Clock)
    scheduler: Scheduler = field(default_factory=Scheduler)
    connected: bool = True

    def __post_init__(self) -> None:
        self.scheduler.clock = self.clock

    def cred(self, provider: str, index: int = 0) -> Credential:
        return self.table.credentials(provider)[index]

    def ids(self, provider: str) -> list[str]:
        return [c.id for c in self.table.credentials(provider)]

    async def request(
        self, model: str, session: str | None = None, body: Mapping[str, Any] | None = None
    ) -> Served | ProxyError | UpstreamError:
        walk = self.scheduler.walk(
            self.table,
            model,
            self.policy,
            session=(lambda: session) if session is not None else None,
        )
        if walk is None:
            raise LookupError(model)

        async def attempt(cand: Candidate) -> Served:
            call = UpstreamCall("generate", cand.model, WireBody({}), stream=False)
            reply = await self.executors[cand.provider.name].send(call, cand.credential)
            walk.succeeded(cand, reply.headers)
            return Served(cand.provider.name, cand.credential.id, cand.model)

        def final(cand: Candidate, exc: UpstreamError) -> UpstreamError:
            return exc

        try:
            return await serve(
                walk, attempt, final, sleep=self.clock.sleep, connected=lambda: self.connected
            )
        except ProxyError as exc:
            return exc


def harness(
    providers: Mapping[str, Mapping[str, Any]],
    routing: list[Mapping[str, Any]],
    server: Mapping[str, Any] | None = None,
) -> Harness:
    """Providers as in config.yaml (``base_url`` filled in); one FakeExecutor each."""
    full = {
        name: {"base_url": "http://127.0.0.1:9", **p, "api_keys": p.get("api_keys", ["k"])}
        for name, p in providers.items()
    }
    config = parse_config(
        {"server": dict(server or {}), "providers": full, "models": {"routing": routing}},
        environ={},
    )
    creds = CredentialPool().sync(config.providers.values())
    table = RoutingTable(config, creds)
    executors = {name: FakeExecutor(name) for name in config.providers}
    return Harness(table, executors, Policy.of(config))
