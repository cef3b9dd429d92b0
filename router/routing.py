"""Model name → rule → its providers, each with the model name it is sent upstream.

Pure: no I/O. Rules are compiled once per config load; lookups of a model
name are memoised (bounded, so random names cannot grow memory). Which
credential serves, in which order, and what an outcome does to it is
``router.scheduling``'s job; credential state lives on the credentials and
survives reloads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from router.auth import Credential
from suite.config import Config, ProviderConfig

__all__ = ["Candidate", "MAX_MODEL_CHARS", "Route", "Rule", "RoutingTable"]

_META = re.compile(r"(?<!\\)[*+?\[\](){}|]")
_CACHE_LIMIT = 4096
# Longer names are refused before any rule is searched (see RoutingTable.route).
MAX_MODEL_CHARS = 256


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule: its servable providers, and aligned with them the upstream name
    each entry carries (None: the rule's ``alias``, else the requested name)."""

    index: int
    pattern: re.Pattern[str]
    providers: tuple[ProviderConfig, ...]
    alias: str | None
    models: tuple[str | None, ...] = ()
    fallbacks: tuple[str, ...] = ()
    strategy: str | None = None

    @property
    def source(self) -> str:
        return self.pattern.pattern


@dataclass(frozen=True, slots=True)
class Route:
    """Where one model name goes: its rule and the model name upstream."""

    model: str
    rule: Rule
    upstream_model: str

    def upstream_for(self, entry: int) -> str:
        """The name the rule's ``entry``-th provider is sent."""
        models = self.rule.models
        return (models[entry] if entry < len(models) else None) or self.upstream_model


@dataclass(frozen=True, slots=True)
class Candidate:
    """One try: a provider, one of its credentials, and the model name sent upstream."""

    provider: ProviderConfig
    credential: Credential
    model: str = ""


class RoutingTable:
    """The compiled rules of one config and the credentials of each provider."""

    def __init__(self, config: Config, credentials: Mapping[str, Sequence[Credential]]) -> None:
        self._creds = {name: tuple(c) for name, c in credentials.items()}
        servable = {
            name: prov
            for name, prov in config.providers.items()
            if prov.enabled and self._creds.get(name)
        }
        self.servable = servable
        rules = []
        for i, r in enumerate(config.routing):
            models = r.provider_models or (None,) * len(r.providers)
            entries = [
                (servable[n], m) for n, m in zip(r.providers, models, strict=True) if n in servable
            ]
            rules.append(
                Rule(
                    index=i,
                    pattern=re.compile(r.pattern),
                    providers=tuple(p for p, _ in entries),
                    alias=r.model,
                    models=tuple(m for _, m in entries),
                    fallbacks=r.fallbacks,
                    strategy=r.strategy,
                )
            )
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._cache: dict[str, Route | None] = {}

    def route(self, model: str) -> Route | None:
        """The first rule whose pattern matches ``model``; None if none does.

        A name longer than ``MAX_MODEL_CHARS`` matches nothing: a rule such as
        ``.*-webai$`` costs time quadratic in the name under ``re.search``, and
        no real model name comes near the bound.
        """
        if len(model) > MAX_MODEL_CHARS:
            return None
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
