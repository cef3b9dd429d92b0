"""Model name → rule → ordered candidates (provider + credential).

Pure: no I/O. Rules are compiled once per config load; lookups of a model
name are memoised (bounded, so random names cannot grow memory). Credential
state (cooling, disabled) lives on the credentials and survives reloads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from router.auth import Credential
from suite.config import Config, ProviderConfig

__all__ = ["Candidate", "Route", "Rule", "RoutingTable"]

_META = re.compile(r"(?<!\\)[*+?\[\](){}|]")
_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    pattern: re.Pattern[str]
    providers: tuple[ProviderConfig, ...]
    alias: str | None

    @property
    def source(self) -> str:
        return self.pattern.pattern


@dataclass(frozen=True, slots=True)
class Route:
    """Where one model name goes: its rule and the model name upstream."""

    model: str
    rule: Rule
    upstream_model: str


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: ProviderConfig
    credential: Credential


class RoutingTable:
    """The compiled rules of one config, with per-provider round-robin."""

    def __init__(self, config: Config, credentials: Mapping[str, Sequence[Credential]]) -> None:
        self._creds = {name: tuple(c) for name, c in credentials.items()}
        servable = {
            name: prov
            for name, prov in config.providers.items()
            if prov.enabled and self._creds.get(name)
        }
        self.servable = servable
        self.rules: tuple[Rule, ...] = tuple(
            Rule(
                index=i,
                pattern=re.compile(r.pattern),
                providers=tuple(servable[n] for n in r.providers if n in servable),
                alias=r.model,
            )
            for i, r in enumerate(config.routing)
        )
        self._cache: dict[str, Route | None] = {}
        self._turn: dict[str, int] = {}

    def route(self, model: str) -> Route | None:
        """The first rule whose pattern matches ``model``; None if none does."""
        try:
            return self._cache[model]
        except KeyError:
            pass
        found = None
        for rule in self.rules:
            if rule.pattern.search(model):
                found = Route(model=model, rule=rule, upstream_model=rule.alias or model)
                break
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[model] = found
        return found

    def candidates(self, route: Route, now: float) -> tuple[list[Candidate], float | None]:
        """Ready candidates in failover order, and when the first resting one wakes.

        Providers keep the rule's order; a provider's keys take turns, so load
        spreads across keys while failover still walks every key.
        """
        ready: list[Candidate] = []
        wake: float | None = None
        for prov in route.rule.providers:
            creds = self._creds[prov.name]
            n = len(creds)
            start = 0
            if n > 1:
                start = self._turn.get(prov.name, 0)
                self._turn[prov.name] = (start + 1) % n
            for k in range(n):
                cred = creds[(start + k) % n]
                if cred.ready(now):
                    ready.append(Candidate(prov, cred))
                else:
                    at = cred.available_at()
                    wake = at if wake is None else min(wake, at)
        return ready, wake

    def listed_models(self) -> list[tuple[str, ProviderConfig]]:
        """Models a client can ask for: each provider's listed models that a rule
        sends to it, and rules that name one model literally (``^name$``)."""
        out: dict[str, ProviderConfig] = {}
        for rule in self.rules:
            if not rule.providers:
                continue
            literal = _literal(rule.pattern)
            if literal is not None:
                out.setdefault(literal, rule.providers[0])
            for prov in rule.providers:
                for m in prov.models:
                    if rule.pattern.search(m) and self.route(m) is not None:
                        if self.route(m) == Route(m, rule, rule.alias or m):
                            out.setdefault(m, prov)
        return sorted(out.items(), key=lambda kv: kv[0])

    def credentials(self, provider: str) -> tuple[Credential, ...]:
        return self._creds.get(provider, ())


def _literal(pattern: re.Pattern[str]) -> str | None:
    src = pattern.pattern
    if not (src.startswith("^") and src.endswith("$")) or _META.search(src[1:-1]):
        return None
    name = re.sub(r"\\(.)", r"\1", src[1:-1])
    return name if name and pattern.fullmatch(name) else None
