"""The webai service's settings: the options of the ``kind: webai`` provider in config.yaml.

    providers:
      webai:
        kind: webai
        enabled: false                  # supervisord autostart, and the router routes to it
        url: http://127.0.0.1:8406      # where it listens (loopback only) and the router sends
        models: [gemini-2.5-flash-webai, gemini-2.5-pro-webai]
        gemini:                         # the Gemini web app, signed in by cookies
          cookies: {__Secure-1PSID: "...", __Secure-1PSIDTS: "..."}   # else auth.dir/webai-default.json
        fallback:                       # g4f providers, tried in this order
          - {provider: PollinationsAI, model: openai}
        backend_timeouts: {first_byte: 120, idle: 300, total: 1800}

Problems are reported as ``ConfigError`` naming the key, like the rest of the config.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from suite.config import DEFAULT_BASE_URLS, Config, ConfigError, ProviderConfig
from suite.proxies import DIRECT, config_proxy_url

__all__ = [
    "FallbackSettings",
    "GeminiSettings",
    "WebAISettings",
    "load_settings",
    "select_provider",
]

KIND = "webai"
PSID, PSIDTS = "__Secure-1PSID", "__Secure-1PSIDTS"


@dataclass(frozen=True, slots=True)
class GeminiSettings:
    """The Gemini web backend (``gemini-webapi``)."""

    enabled: bool = True
    account: str = "default"  # cookie file: <auth.dir>/webai-<account>.json
    secure_1psid: str = field(default="", repr=False)
    secure_1psidts: str = field(default="", repr=False)
    # HTTP(S)/SOCKS proxy for every Google request: gemini.proxy (older spelling), else
    # providers.<webai>.proxy_url, else server.proxy_url (docs/webai.md); "" direct.
    proxy: str = field(default="", repr=False)
    ca_bundle: str = ""  # CA file to verify Google's TLS with (default: the system's)
    auto_refresh: bool = True
    refresh_interval: float = 600.0  # gemini-webapi rotates __Secure-1PSIDTS this often (min 60)
    cookie_sync_seconds: float = 30.0  # how often rotated cookies are looked for and saved
    request_timeout: float = 300.0
    init_timeout: float = 60.0
    retry_seconds: float = 60.0  # a failed sign-in is retried at most this often
    max_concurrency: int = 4


@dataclass(frozen=True, slots=True)
class FallbackSettings:
    """One g4f provider of the fallback chain."""

    provider: str  # a name in g4f.Provider, or "package.module:Class"
    model: str = ""  # the model it is asked for ("": the requested one)
    api_key: str = field(default="", repr=False)
    proxy: str = field(default="", repr=False)  # its own, else the service's (GeminiSettings)


@dataclass(frozen=True, slots=True)
class WebAISettings:
    provider: str
    host: str
    port: int
    auth_dir: Path
    token: str = field(default="", repr=False)  # services.token; empty: no bearer required
    gemini: GeminiSettings = field(default_factory=GeminiSettings)
    fallback: tuple[FallbackSettings, ...] = ()
    models: tuple[str, ...] = ()
    first_byte_timeout: float = 120.0
    idle_timeout: float = 300.0
    total_timeout: float = 1800.0
    max_body_bytes: int = 32 * 1024 * 1024

    @property
    def cookie_file(self) -> Path:
        return self.auth_dir / f"webai-{self.gemini.account}.json"

    @property
    def library_cache_dir(self) -> Path:
        """Where gemini-webapi keeps its own cookie cache (``GEMINI_COOKIE_PATH``)."""
        return self.auth_dir / "webai-cache"


def select_provider(config: Config, name: str | None = None) -> ProviderConfig:
    """The webai provider: ``name``, else the one named ``webai``, else the first of its kind."""
    if name:
        prov = config.providers.get(name)
        if prov is None or prov.kind != KIND:
            raise ConfigError(f"providers.{name}", f"no provider of kind {KIND} with this name")
        return prov
    ours = [p for p in config.providers.values() if p.kind == KIND]
    if not ours:
        raise ConfigError("providers", f"no provider of kind {KIND} (see docs/webai.md)")
    named = [p for p in ours if p.name == KIND]
    return (named or ours)[0]


def load_settings(config: Config, name: str | None = None) -> WebAISettings:
    prov = select_provider(config, name)
    key = f"providers.{prov.name}"
    opts = _Opts(prov.options, key)
    opts.only("url", "port", "gemini", "fallback", "backend_timeouts", "max_connections")
    url = opts.string("url", prov.base_url or DEFAULT_BASE_URLS[KIND])
    host, port = _listen_address(url, f"{key}.url")
    if "port" in prov.options:
        port = opts.integer("port", port, 1, 65535)
    timeouts = opts.section("backend_timeouts")
    timeouts.only("first_byte", "idle", "total")
    outbound = _outbound_proxy(config, prov)
    return WebAISettings(
        provider=prov.name,
        host=host,
        port=port,
        auth_dir=config.auth.dir,
        token=config.services.token,
        gemini=_with_proxy(_gemini(opts.section("gemini")), outbound),
        fallback=tuple(
            _with_proxy(f, outbound)
            for f in _fallback(prov.options.get("fallback"), f"{key}.fallback")
        ),
        models=prov.models,
        first_byte_timeout=timeouts.number("first_byte", 120.0),
        idle_timeout=timeouts.number("idle", 300.0),
        total_timeout=timeouts.number("total", 1800.0),
        max_body_bytes=config.server.max_body_bytes,
    )


def _outbound_proxy(config: Config, prov: ProviderConfig) -> str:
    """The service's proxy URL (with its userinfo, for curl and g4f): the provider's
    ``proxy_url``, else ``server.proxy_url`` (``env``: HTTPS_PROXY for Google), the one
    way every outbound connection of the suite is proxied (suite.proxies)."""
    proxy = config.server.proxy.choose(prov.proxy_url, "https://gemini.google.com")
    return proxy.url if proxy is not None else ""


_Proxied = TypeVar("_Proxied", GeminiSettings, FallbackSettings)


def _with_proxy(settings: _Proxied, outbound: str) -> _Proxied:
    """``settings`` with the service's proxy unless it names its own (``direct``: none)."""
    own = settings.proxy
    if own.strip().lower() == DIRECT:
        return replace(settings, proxy="")
    return settings if own else replace(settings, proxy=outbound)


def _listen_address(url: str, key: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(key, f"expected http://HOST:PORT on loopback, got {url!r}")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(key, f"webai listens on loopback only (127.0.0.1 or ::1), got {host!r}")
    try:
        port = parts.port or 80
    except ValueError:
        raise ConfigError(key, f"not a valid port in {url!r}") from None
    return host, port


def _gemini(sec: _Opts) -> GeminiSettings:
    sec.only(
        "enabled",
        "account",
        "cookies",
        "proxy",
        "ca_bundle",
        "auto_refresh",
        "refresh_interval",
        "cookie_sync_seconds",
        "request_timeout",
        "init_timeout",
        "retry_seconds",
        "max_concurrency",
    )
    cookies = sec.section("cookies")
    cookies.only(PSID, PSIDTS)
    account = sec.string("account", "default")
    if not account.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(sec.key("account"), "letters, digits, '-' and '_' only")
    return GeminiSettings(
        enabled=sec.boolean("enabled", True),
        account=account,
        secure_1psid=cookies.string(PSID, ""),
        secure_1psidts=cookies.string(PSIDTS, ""),
        proxy=config_proxy_url(sec.string("proxy", ""), sec.key("proxy")),
        ca_bundle=sec.string("ca_bundle", ""),
        auto_refresh=sec.boolean("auto_refresh", True),
        refresh_interval=max(60.0, sec.number("refresh_interval", 600.0)),
        cookie_sync_seconds=sec.number("cookie_sync_seconds", 30.0),
        request_timeout=sec.number("request_timeout", 300.0),
        init_timeout=sec.number("init_timeout", 60.0),
        retry_seconds=sec.number("retry_seconds", 60.0),
        max_concurrency=sec.integer("max_concurrency", 4, 1, 64),
    )


def _fallback(raw: Any, key: str) -> tuple[FallbackSettings, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(key, "expected a list of {provider: NAME, model: MODEL}")
    out = []
    for i, item in enumerate(raw):
        sec = _Opts({"provider": item} if isinstance(item, str) else item, f"{key}[{i}]")
        sec.only("provider", "model", "api_key", "proxy")
        provider = sec.string("provider", "")
        if not provider:
            raise ConfigError(sec.key("provider"), "required: a g4f provider name or module:Class")
        out.append(
            FallbackSettings(
                provider=provider,
                model=sec.string("model", ""),
                api_key=sec.string("api_key", ""),
                proxy=config_proxy_url(sec.string("proxy", ""), sec.key("proxy")),
            )
        )
    return tuple(out)


class _Opts:
    """Typed reads from a mapping with the key path in every message."""

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(path, "expected a mapping")
        self.data: Mapping[str, Any] = data
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def only(self, *names: str) -> None:
        for k in self.data:
            if k not in names:
                raise ConfigError(self.key(k), f"unknown key (expected one of: {', '.join(names)})")

    def section(self, name: str) -> _Opts:
        return _Opts(self.data.get(name), self.key(name))

    def string(self, name: str, default: str) -> str:
        value = self.data.get(name)
        var = getattr(value, "var", None)  # an unset ${VAR} in a key that is used
        if var:
            raise ConfigError(self.key(name), f"environment variable {var} is not set")
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(self.key(name), "expected a string")
        return str(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), f"expected true or false, got {value!r}")
        return value

    def number(self, name: str, default: float) -> float:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(self.key(name), f"expected a number above 0, got {value!r}")
        return float(value)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                self.key(name), f"expected a whole number {low}-{high}, got {value!r}"
            )
        return value
