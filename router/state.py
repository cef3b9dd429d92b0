"""The router's live state: one immutable snapshot per loaded config.

A request takes the current snapshot when it starts and keeps it to the end,
so a reload (SIGHUP or file change) never changes the rules under a request
in flight. Executors (connection pools) and credential state carry over from
one snapshot to the next when their provider did not change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from router.auth import AuthManager, Credential, CredentialPool, Logins
from router.executors import Executor, build_executor
from router.relay import RelayHub
from router.routing import RoutingTable
from router.scheduling import Policy, Scheduler
from router.shared import Breaker, SharedState, StateChange, StateRecord, apply_record
from suite.config import KINDS, BreakerConfig, Config, CooldownConfig, ProviderConfig
from suite.secrets import SECRETS, config_secrets
from suite.tasks import spawn

__all__ = ["RouterState", "Snapshot"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    config: Config
    table: RoutingTable
    executors: Mapping[str, Executor]
    client_keys: tuple[bytes, ...]
    loaded_at: float = 0.0
    warnings: tuple[str, ...] = field(default=())
    # Who serves a request (the same scheduler across reloads: turns, sticky pins).
    scheduler: Scheduler = field(default_factory=Scheduler)
    policy: Policy = field(default_factory=lambda: Policy(CooldownConfig(), BreakerConfig()))


class RouterState:
    """Owns the current snapshot, the executors and the credential pool."""

    def __init__(self, config: Config) -> None:
        self.pool = CredentialPool()
        self.scheduler = Scheduler()
        self.shared: SharedState | None = None  # set by share() (the app's shared state)
        self.relay = RelayHub(config.services)  # /v1/ws services outlive reloads
        self.auth = AuthManager(config)  # stored sign-ins; no I/O until start()
        self.logins = Logins(self.auth)
        self._executors: dict[str, tuple[ProviderConfig, Executor]] = {}
        self._retired: list[Executor] = []  # replaced, closing after a grace period
        self.current = self._build(config)
        self.auth.on_change = self.resync

    def share(self, shared: SharedState) -> None:
        """Publish every credential change the scheduler makes (rests, breakers, the
        models resting) and fold in what the other workers publish (docs/shared-state.md):
        a 429 or an open breaker seen by one worker is honoured by all within a second."""
        self.shared = shared

        def publish(cred: Credential, model: str | None) -> None:
            if model is None:
                shared.publish(cred.id, None, _record(cred))
            else:
                rest = StateRecord(
                    cooling_until=cred.model_cooling.get(model, 0.0),
                    strikes=cred.model_strikes.get(model, 0),
                )
                shared.publish(cred.id, model, rest)

        self.scheduler.on_change = publish
        shared.listen(self._changed_elsewhere)

    def credential(self, credential_id: str) -> Credential | None:
        for cred in self.pool.all():
            if cred.id == credential_id:
                return cred
        return None

    def _changed_elsewhere(self, change: StateChange) -> None:
        cred = self.credential(change.credential_id)
        if cred is None:
            return
        if change.cleared:
            cred.reset()
        rec = change.record
        if rec is None:
            return
        if change.model is not None:
            until = max(cred.model_cooling.get(change.model, 0.0), rec.cooling_until)
            cred.model_cooling[change.model] = until
            return
        apply_record(cred, rec)
        b = rec.breaker  # the newest view: a probe that closed it anywhere closes it here
        cred.breaker, cred.breaker_until = b.state, b.open_until
        cred.failures, cred.breaker_reason = b.failures, b.reason

    async def start(self) -> None:
        """Load stored credentials and start refreshing them (app start-up)."""
        await self.auth.start()

    def resync(self) -> Snapshot:
        """Stored credentials changed (login, deletion, file edit): same config, new table.
        Requests in flight keep the snapshot they started with."""
        self.current = self._build(self.current.config)
        return self.current

    def reload(self, config: Config) -> Snapshot:
        """Swap in a new config; executors whose provider changed are closed later."""
        self.relay.configure(config.services)
        self.auth.configure(config)
        self.current = self._build(config)
        if self._retired:
            grace = config.server.shutdown_grace_seconds
            spawn(self._close_later(list(self._retired), grace), name="close-retired-executors")
        return self.current

    async def _close_later(self, executors: list[Executor], grace: float) -> None:
        """Let requests that still use the old pools finish before closing them."""
        await asyncio.sleep(grace)
        for ex in executors:
            if ex in self._retired:
                self._retired.remove(ex)
                await ex.close()

    def _build(self, config: Config) -> Snapshot:
        SECRETS.set("config", config_secrets(config))  # masked in logs and error bodies
        creds = self.pool.sync(
            config.providers.values(), self.auth.sources(), config.services.token
        )
        for name, prov in config.providers.items():
            if KINDS[prov.kind].credentials == "relay" and prov.enabled:  # any free service
                creds[name] = [self.relay.credential(name)]
        executors: dict[str, Executor] = {}
        kept: dict[str, tuple[ProviderConfig, Executor]] = {}
        warnings: list[str] = []
        for name, prov in config.providers.items():
            if not prov.enabled:
                continue
            old = self._executors.get(name)
            if old is not None and old[0] == prov:
                kept[name] = old
                executors[name] = old[1]
                continue
            ex = build_executor(prov, self.relay)
            if ex is None:
                warnings.append(f"provider {name}: kind {prov.kind} is not available in this build")
                continue
            store_type = KINDS[prov.kind].store_type
            if not creds.get(name) and store_type is not None:
                warnings.append(
                    f"provider {name}: no signed-in account, not served"
                    f" (python -m router login {store_type})"
                )
            elif not creds.get(name):
                warnings.append(f"provider {name}: no credentials configured, not served")
            kept[name] = (prov, ex)
            executors[name] = ex
        for name, (_, ex) in self._executors.items():
            if kept.get(name, (None, None))[1] is not ex:
                self._retired.append(ex)
        self._executors = kept
        usable = {n: c for n, c in creds.items() if n in executors}
        table = RoutingTable(config, usable)
        return Snapshot(
            config=config,
            table=table,
            executors=executors,
            client_keys=tuple(k.encode() for k in config.server.api_keys),
            loaded_at=time.time(),
            warnings=tuple(warnings),
            scheduler=self.scheduler,
            policy=Policy.of(config),
        )

    async def close(self) -> None:
        await self.relay.close()
        await self.logins.close()
        await self.auth.close()
        for _, ex in self._executors.values():
            await ex.close()
        for ex in self._retired:
            await ex.close()
        self._executors.clear()
        self._retired.clear()


def _record(cred: Credential) -> StateRecord:
    """A credential's whole state as the workers share it."""
    return StateRecord(
        cooling_until=cred.cooling_until,
        strikes=cred.strikes,
        breaker=Breaker(cred.breaker, cred.breaker_until, cred.failures, cred.breaker_reason),
        disabled_until=cred.disabled_until,
        disabled_reason=cred.disabled_reason,
        headroom=cred.quota.to_json() if cred.quota is not None else None,
    )
