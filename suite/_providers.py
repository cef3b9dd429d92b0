"""Readers of ``providers`` and ``models.routing`` (``suite.config``).

Every key of a provider entry is checked against the common keys and the
options of its kind (``suite._kinds``); ``timeouts`` default to
``server.timeouts``, each value overridable per provider.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from ._kinds import KINDS, SignInOptions, read_options
from ._reader import ConfigError, Missing, Section, kind_of
from ._server import read_timeouts
from ._settings import STRATEGIES, LimitsConfig, ProviderConfig, RouteRule, TimeoutsConfig
from .proxies import ProxyPolicy, config_proxy_url

__all__ = ["drop_missing", "read_providers", "read_routing"]

_COMMON = (
    "kind",
    "enabled",
    "base_url",
    "api_keys",
    "models",
    "headers",
    "timeouts",
    "strategy",
    "proxy_url",
)
_KIND_LIST = ", ".join(sorted(KINDS))


def read_providers(sec: Section, timeouts: TimeoutsConfig) -> dict[str, ProviderConfig]:
    out: dict[str, ProviderConfig] = {}
    for name in sec.data:
        p = sec.section(name)
        kind_name = p.string("kind", "")
        if not kind_name:
            raise ConfigError(p.key("kind"), f"required (one of: {_KIND_LIST})")
        kind = KINDS.get(kind_name)
        if kind is None:
            raise ConfigError(p.key("kind"), f"unknown kind {kind_name!r} (one of: {_KIND_LIST})")
        settings = read_options(p, kind, _COMMON)
        base_url = p.data.get("base_url")
        base: str
        if isinstance(base_url, Missing):
            base = base_url
        else:
            base = p.string("base_url", kind.default_base_url).rstrip("/")
            if not base.startswith(("http://", "https://")):
                raise ConfigError(p.key("base_url"), f"expected an http(s) URL, got {base!r}")
        headers_sec = p.section("headers")
        headers = {k: headers_sec.string(k, "") for k in headers_sec.data}
        options = {k: v for k, v in p.data.items() if k not in _COMMON}
        if "client" in p.data and isinstance(settings, SignInOptions):
            profile = _client_profile(p, kind_name)
            options["client"] = profile
            settings = dataclasses.replace(settings, client=profile)
        out[name] = ProviderConfig(
            name=name,
            kind=kind_name,
            enabled=p.boolean("enabled", True),
            base_url=base,
            api_keys=p.strings("api_keys"),
            models=p.strings("models"),
            headers=headers,
            timeouts=read_timeouts(p.section("timeouts"), timeouts),
            options=options,
            settings=settings,
            strategy=_strategy(p),
            proxy_url=config_proxy_url(p.string("proxy_url", ""), p.key("proxy_url")),
        )
    return out


def _strategy(sec: Section) -> str | None:
    value = sec.string("strategy", "")
    if value and value not in STRATEGIES:
        raise ConfigError(
            sec.key("strategy"), f"expected one of {', '.join(STRATEGIES)}, got {value!r}"
        )
    return value or None


def drop_missing(
    prov: ProviderConfig, limits: LimitsConfig, proxy: ProxyPolicy | None = None
) -> ProviderConfig:
    """Empty and unset ``${VAR}`` keys dropped; ``server.limits`` given to the provider,
    and the proxy its executor uses (its own ``proxy_url``, else ``server.proxy_url``;
    none for the suite's own services, which it reaches on loopback)."""
    keys = tuple(k for k in prov.api_keys if k and not isinstance(k, Missing))
    local = KINDS[prov.kind].credentials in ("service", "relay")
    chosen = None if local else (proxy or ProxyPolicy()).choose(prov.proxy_url, prov.base_url)
    return dataclasses.replace(prov, api_keys=keys, limits=limits, proxy=chosen)


# ``providers.X.client``: what a subscription request claims to be (docs/credentials.md).
_CLIENT_KEYS = {
    "claude-oauth": "version entrypoint betas sdk_version node_version os arch cch".split(),
    "codex-oauth": "version originator os arch terminal".split(),
}


def _client_profile(p: Section, kind: str) -> dict[str, Any]:
    """``client`` of a subscription provider: known keys; strings, ``betas`` a list,
    ``cch`` true, false or auto."""
    if kind not in _CLIENT_KEYS:
        raise ConfigError(p.key("client"), f"only for kinds {', '.join(sorted(_CLIENT_KEYS))}")
    sec = p.section("client")
    sec.only(*_CLIENT_KEYS[kind])
    out: dict[str, Any] = {k: sec.string(k, "") for k in sec.data if k not in ("betas", "cch")}
    if "betas" in sec.data:
        out["betas"] = list(sec.strings("betas"))
    if sec.data.get("cch", "auto") not in (True, False, "auto"):
        raise ConfigError(sec.key("cch"), f"expected true, false or auto, got {sec.data['cch']!r}")
    return {**out, **({"cch": sec.data["cch"]} if "cch" in sec.data else {})}


def read_routing(sec: Section, providers: Mapping[str, ProviderConfig]) -> tuple[RouteRule, ...]:
    sec.only("routing")
    rules = sec.data.get("routing") or []
    if not isinstance(rules, list):
        raise ConfigError(sec.key("routing"), f"expected a list of rules, got {kind_of(rules)}")
    out: list[RouteRule] = []
    for i, raw in enumerate(rules):
        r = Section(raw, f"{sec.key('routing')}[{i}]")
        r.only("pattern", "providers", "model", "alias", "fallbacks", "strategy")
        pattern = r.string("pattern", "")
        if not pattern:
            raise ConfigError(r.key("pattern"), "required (a regular expression for model names)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(r.key("pattern"), f"not a valid regular expression: {exc}") from None
        names, models = _rule_providers(r, providers)
        alias = r.string("model", "") or r.string("alias", "")
        out.append(
            RouteRule(
                pattern=pattern,
                providers=names,
                model=alias or None,
                provider_models=models,
                fallbacks=r.strings("fallbacks"),
                strategy=_strategy(r),
            )
        )
    return tuple(out)


def _rule_providers(
    r: Section, providers: Mapping[str, ProviderConfig]
) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """A rule's providers: names, or ``{name, model}`` entries with their own upstream name."""
    raw = r.data.get("providers")
    if isinstance(raw, str | dict):
        raw = [raw]
    if not raw or not isinstance(raw, list):
        raise ConfigError(r.key("providers"), "required (a list of provider names)")
    names: list[str] = []
    models: list[str | None] = []
    for j, item in enumerate(raw):
        key = f"{r.key('providers')}[{j}]"
        model: str | None = None
        if isinstance(item, dict):
            entry = Section(item, key)
            entry.only("name", "model")
            name, model = entry.string("name", ""), entry.string("model", "") or None
            if not name:
                raise ConfigError(entry.key("name"), "required (a provider name)")
        elif isinstance(item, str):
            name = item
        else:
            raise ConfigError(key, f"expected a provider name, got {kind_of(item)}")
        if name not in providers:
            raise ConfigError(
                key, f"no provider named {name!r} (defined: {', '.join(providers) or 'none'})"
            )
        names.append(name)
        models.append(model)
    return tuple(names), tuple(models)
