"""One request's way through its candidates, and the scheduler they share.

A ``Walk`` hands out candidates one at a time: the rule's providers in order,
each provider's credentials in its strategy's order, skipping those that
rest (cooldown, disabled, breaker open, the model resting); then, when all
of them failed or rest, the rule's ``fallbacks``, each routed by its own rule
(and its fallbacks after it; a model is visited once, at most
``MAX_ROUTES`` in all, so fallbacks that name each other end). Each outcome
is recorded as ``_outcome`` says. When nothing is left, ``wait_time`` says
whether the request may wait for the first rest to end (``server.retry``),
and ``error`` what the client is told otherwise.

Nothing here does I/O: the clock is injected, the outcomes are given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from router.auth import Credential
from router.errors import (
    ErrorKind,
    NoCapacity,
    NotFound,
    ProxyError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from router.routing import Candidate, Route
from suite.config import BreakerConfig, Config, CooldownConfig, ProviderConfig

from ._outcome import Change, record_failure, record_success, take_probe
from ._strategy import StickyTable, Turns, order

__all__ = ["MAX_ROUTES", "Policy", "Routes", "Scheduler", "Walk"]

MAX_ROUTES = 8
Listener = Callable[[Credential, "str | None"], None]


class Routes(Protocol):
    """What a walk needs of the routing table."""

    def route(self, model: str) -> Route | None: ...

    def credentials(self, provider: str) -> tuple[Credential, ...]: ...


@dataclass(frozen=True, slots=True)
class Policy:
    cooldown: CooldownConfig
    breaker: BreakerConfig
    max_wait: float = 0.0

    @classmethod
    def of(cls, config: Config) -> Policy:
        s = config.server
        return cls(s.cooldown, s.breaker, s.retry.max_wait_seconds)


class Scheduler:
    """What outlives a request and a reload: turns, sticky pins, and who to tell when a
    credential's state changed (``on_change``: the shared state, ``router.shared``)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.turns = Turns()
        self.sticky = StickyTable()
        self.on_change: Listener | None = None

    def walk(
        self,
        table: Routes,
        model: str,
        policy: Policy,
        *,
        session: Callable[[], str] | None = None,
        usable: Callable[[ProviderConfig], bool] | None = None,
        label: str | None = None,
    ) -> Walk | None:
        """The walk for ``model``; None when no rule with a servable provider matches it."""
        route = table.route(model)
        if route is None or not route.rule.providers:
            return None
        return Walk(self, table, route, policy, session, usable, label or model)

    def changed(self, cred: Credential, model: str | None = None) -> None:
        if self.on_change is not None:
            self.on_change(cred, model)


Why = Literal["limit", "breaker"]


class Walk:
    __slots__ = (
        "route",
        "last",
        "change",
        "attempts",
        "waited",
        "_s",
        "_table",
        "_policy",
        "_session",
        "_session_key",
        "_usable",
        "_label",
        "_queue",
        "_seen",
        "_cands",
        "_pos",
        "_tried",
        "_wake",
        "_why",
        "_sticky_rules",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        table: Routes,
        route: Route,
        policy: Policy,
        session: Callable[[], str] | None,
        usable: Callable[[ProviderConfig], bool] | None,
        label: str,
    ) -> None:
        self.route = route
        self.last: UpstreamError | None = None
        self.change: Change | None = None  # what the last failure changed
        self.attempts = 0
        self.waited = 0.0
        self._s = scheduler
        self._table = table
        self._policy = policy
        self._session = session
        self._session_key: str | None = None
        self._usable = usable
        self._label = label
        self._sticky_rules: dict[str, bool] = {}
        self._start()

    def _start(self) -> None:
        self._queue: list[Route] = []
        self._seen = {self.route.model}
        self._tried: set[tuple[str, str]] = set()
        self._wake: float | None = None
        self._why: Why = "limit"
        self._enter(self.route)

    # -- candidates ------------------------------------------------------------

    def next(self) -> Candidate | None:
        """The next candidate to try now, or None when every one failed or rests."""
        while True:
            while self._pos < len(self._cands):
                cand = self._cands[self._pos]
                self._pos += 1
                key = (cand.credential.id, cand.model)
                if key in self._tried:
                    continue
                now = self._s.clock()
                if not cand.credential.ready(now, cand.model):
                    self._resting(cand.credential, cand.model)
                    continue
                self._tried.add(key)
                take_probe(cand.credential, now, _probe_seconds(cand.provider))
                self.attempts += 1
                return cand
            if not self._fall_back():
                return None

    def _enter(self, route: Route) -> None:
        now = self._s.clock()
        rule = route.rule
        groups: list[list[Candidate]] = []
        front = -1
        for i, prov in enumerate(rule.providers):
            if self._usable is not None and not self._usable(prov):
                continue
            strategy = rule.strategy or prov.strategy or "round-robin"
            pinned = None
            if strategy == "sticky" and self._session is not None:
                self._sticky_rules[route.model] = True
                pinned = self._s.sticky.get(self._key(route), now)
            creds = self._table.credentials(prov.name)
            ordered = order(strategy, creds, self._s.turns, prov.name, now, pinned)
            model = route.upstream_for(i)
            groups.append([Candidate(prov, c, model) for c in ordered])
            if pinned is not None and rule.strategy == "sticky" and front < 0:
                if any(c.id == pinned for c in ordered):
                    front = len(groups) - 1
        if front > 0:
            groups.insert(0, groups.pop(front))
        self._cands = [c for g in groups for c in g]
        self._pos = 0
        for fallback in rule.fallbacks:
            if fallback not in self._seen and len(self._seen) < MAX_ROUTES:
                found = self._table.route(fallback)
                self._seen.add(fallback)
                if found is not None and found.rule.providers:
                    self._queue.append(found)

    def _fall_back(self) -> bool:
        if not self._queue:
            return False
        self._enter(self._queue.pop(0))
        return True

    def _key(self, route: Route) -> str:
        if self._session_key is None:
            self._session_key = self._session() if self._session is not None else ""
        return f"{route.rule.index}:{self._session_key}"

    def _resting(self, cred: Credential, model: str) -> None:
        at = cred.available_at(model)
        if self._wake is None or at < self._wake:
            self._wake = at
            open_ = cred.breaker != "closed" and cred.breaker_until >= at
            self._why = "breaker" if open_ else "limit"

    # -- outcomes --------------------------------------------------------------

    def succeeded(self, cand: Candidate, headers: Mapping[str, str] | None = None) -> None:
        """Record a served attempt; a sticky conversation stays with its credential."""
        now = self._s.clock()
        if record_success(cand.credential, cand.model, now, headers):
            self._s.changed(cand.credential)
        for model in self._sticky_rules:
            found = self._table.route(model)
            if found is not None:
                self._s.sticky.pin(self._key(found), cand.credential.id, now)

    def failed(self, cand: Candidate, exc: UpstreamError) -> bool:
        """Record a failed attempt; whether the next candidate may be tried."""
        now = self._s.clock()
        policy = self._policy
        change = record_failure(
            cand.credential,
            cand.provider.kind,
            cand.model,
            exc,
            now,
            policy.cooldown,
            policy.breaker,
            _probe_seconds(cand.provider),
        )
        self.change = change
        if change is not None:
            self._s.changed(cand.credential, change.model)
            if change.what != "breaker_failure":
                self._resting(cand.credential, cand.model)
        if exc.retryable:
            # Kept for its message and status: its traceback's frames hold this walk
            # (and through the attempt, the request and its body) in a cycle.
            self.last = exc.with_traceback(None)
        return exc.retryable

    # -- when nothing is left --------------------------------------------------

    def wait_time(self) -> float | None:
        """Seconds to wait before trying again (``server.retry.max_wait_seconds``: every
        candidate rests and the first wakes within what is left of it), else None."""
        if self._wake is None or self._policy.max_wait <= 0:
            return None
        delay = max(0.0, self._wake - self._s.clock())
        if self.waited + delay > self._policy.max_wait:
            return None
        return max(delay, 0.005)

    def waited_for(self, seconds: float) -> None:
        """The wait is over: start again from the rule, with what woke up."""
        self.waited += seconds
        self._start()

    def error(self) -> ProxyError:
        """What the client is told when no candidate served."""
        now = self._s.clock()
        last, label = self.last, self._label
        if last is None or (isinstance(last, UpstreamHTTPError) and last.is_rate_limit):
            wake = self._wake
            if wake is None and last is not None:
                wake = now + (last.retry_after or 1.0)
            return _resting(label, wake, now, self._why if last is None else "limit")
        err = UpstreamError(f"every provider for model '{label}' failed; last: {last.message}")
        if isinstance(last, UpstreamTimeout):
            err.status, err.kind = 504, ErrorKind.TIMEOUT
        elif isinstance(last, UpstreamHTTPError) and last.status in (503, 529):
            err.status, err.kind, err.retry_after = 503, ErrorKind.OVERLOADED, last.retry_after
        return err


def _resting(label: str, wake: float | None, now: float, why: Why) -> ProxyError:
    if wake is None:
        return NotFound(f"model '{label}' has no usable credentials")
    wait = max(1.0, wake - now)
    if why == "breaker":
        err = UpstreamError(
            f"every provider for model '{label}' is failing and rests (circuit breaker);"
            f" retry in {wait:.0f}s"
        )
        err.status, err.kind, err.retry_after = 503, ErrorKind.OVERLOADED, wait
        return err
    return NoCapacity(
        f"every credential for model '{label}' is cooling down after rate limits;"
        f" retry in {wait:.0f}s",
        retry_after=wait,
    )


def _probe_seconds(prov: ProviderConfig) -> float:
    """How long a half-open probe holds its credential: as long as an attempt may take."""
    t = prov.timeouts
    return t.connect + t.first_byte
