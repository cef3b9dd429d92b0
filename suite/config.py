"""Load ``config.yaml`` into typed, validated objects.

This is the only module that reads the environment: ``${VAR}`` and
``${VAR:-default}`` are expanded here, and ``CLIPROXY_CONFIG`` picks the file.
Validation errors name the key and what was expected, so the entry points can
print one line and exit non-zero instead of a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "AuthConfig",
    "Config",
    "ConfigError",
    "CooldownConfig",
    "DEFAULT_BASE_URLS",
    "EXECUTOR_KINDS",
    "HealthConfig",
    "LoggingConfig",
    "ManagementConfig",
    "ProviderConfig",
    "RouteRule",
    "ServerConfig",
    "ServicesConfig",
    "TimeoutsConfig",
    "UsageConfig",
    "config_path",
    "env_flag",
    "load_config",
    "parse_config",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.yaml"

EXECUTOR_KINDS = frozenset(
    {
        "anthropic",
        "openai-compatible",
        "gemini",
        "claude-oauth",
        "codex-oauth",
        "ctonew",
        "aistudio",
        "webai",
    }
)

DEFAULT_BASE_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai-compatible": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
    "claude-oauth": "https://api.anthropic.com",
    "codex-oauth": "https://chatgpt.com/backend-api/codex",
    "ctonew": "https://api.enginelabs.ai",
    "aistudio": "https://generativelanguage.googleapis.com",
    "webai": "http://127.0.0.1:8406",
}

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A configuration problem, worded for the person who edits the file."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config: {key}: {problem}" if key else f"config: {problem}")
        self.key = key


class _Missing(str):
    """An unset ``${VAR}``: an error only if a used key holds it."""

    var: str

    def __new__(cls, var: str) -> _Missing:
        obj = super().__new__(cls, "")
        obj.var = var
        return obj


@dataclass(frozen=True, slots=True)
class TimeoutsConfig:
    """Upstream timeouts in seconds: TCP connect, first byte, and silence between chunks."""

    connect: float = 10.0
    first_byte: float = 120.0
    idle: float = 300.0


@dataclass(frozen=True, slots=True)
class CooldownConfig:
    """How long a rate-limited credential rests when the upstream gave no Retry-After."""

    base_seconds: float = 1.0
    max_seconds: float = 300.0
    auth_failure_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8317
    workers: int = 1
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = 32 * 1024 * 1024
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)
    cooldown: CooldownConfig = field(default_factory=CooldownConfig)
    shutdown_grace_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class ManagementConfig:
    key: str = ""
    allow_remote: bool = False


@dataclass(frozen=True, slots=True)
class ServicesConfig:
    token: str = ""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    dir: Path = Path("~/.cli-proxy-api").expanduser()
    store: str = "file"
    dsn: str = ""


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """A named instance of an executor kind.

    ``options`` keeps the kind-specific keys (``browser``, ``oauth``, ``url``...)
    that later executors read; the common ones are typed fields.
    """

    name: str
    kind: str
    enabled: bool = True
    base_url: str = ""
    api_keys: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RouteRule:
    """``pattern`` is matched with ``re.search``; ``model`` renames the model upstream."""

    pattern: str
    providers: tuple[str, ...]
    model: str | None = None


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    dir: Path = PROJECT_ROOT / "logs"
    level: str = "info"
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 5


@dataclass(frozen=True, slots=True)
class HealthConfig:
    interval_seconds: float = 30.0
    failures_before_restart: int = 2
    timeout_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class UsageConfig:
    path: Path = Path("~/.cli-proxy-api/usage.sqlite3").expanduser()
    retention_days: int = 90


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig
    management: ManagementConfig
    services: ServicesConfig
    auth: AuthConfig
    providers: Mapping[str, ProviderConfig]
    routing: tuple[RouteRule, ...]
    logging: LoggingConfig
    health: HealthConfig
    usage: UsageConfig
    source: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: an explicit path, else ``CLIPROXY_CONFIG``, else ``config.yaml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("CLIPROXY_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def env_flag(name: str) -> str | None:
    """Read one environment variable for a caller outside this module (e.g. ``CI``)."""
    return os.environ.get(name)


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, expand and validate the config file; raise ConfigError on any problem."""
    file = config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"file not found: {file}") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read {file}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError("", f"{file} is not valid YAML{where}") from None
    return parse_config(data if data is not None else {}, environ, source=file)


def parse_config(
    data: Any,
    environ: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Config:
    """Validate an already-parsed mapping (used by tests and reload)."""
    env = os.environ if environ is None else environ
    if not isinstance(data, dict):
        raise ConfigError("", "the top level must be a mapping of sections")
    expanded = _expand(data, env)
    root = _Section(expanded, "")
    root.only(
        "server",
        "management",
        "services",
        "auth",
        "providers",
        "models",
        "logging",
        "health",
        "usage",
    )
    server = _server(root.section("server"))
    providers = _providers(root.section("providers"))
    routing = _routing(root.section("models"), providers)
    used = {name for rule in routing for name in rule.providers}
    for name, prov in providers.items():
        if name in used and prov.enabled:
            _require_set(prov.api_keys, f"providers.{name}.api_keys")
            _require_set((prov.base_url,), f"providers.{name}.base_url")
    providers = {name: _drop_missing(prov) for name, prov in providers.items()}
    return Config(
        server=server,
        management=_management(root.section("management")),
        services=ServicesConfig(token=root.section("services").string("token", "")),
        auth=_auth(root.section("auth")),
        providers=providers,
        routing=routing,
        logging=_logging(root.section("logging")),
        health=_health(root.section("health")),
        usage=_usage(root.section("usage")),
        source=source,
        raw=expanded,
    )


# --- expansion -------------------------------------------------------------


def _expand(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _expand_str(value, env)
    if isinstance(value, list):
        return [_expand(v, env) for v in value]
    if isinstance(value, dict):
        return {str(k): _expand(v, env) for k, v in value.items()}
    return value


def _expand_str(text: str, env: Mapping[str, str]) -> str:
    if "${" not in text:
        return text
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        var, default = m.group(1), m.group(2)
        if var in env and env[var] != "":
            return env[var]
        if default is not None:
            return default
        missing.append(var)
        return ""

    out = _ENV_REF.sub(sub, text)
    if missing:
        return _Missing(missing[0])
    return out


def _require_set(values: tuple[str, ...], key: str) -> None:
    for v in values:
        if isinstance(v, _Missing):
            raise ConfigError(key, f"environment variable {v.var} is not set")


def _drop_missing(prov: ProviderConfig) -> ProviderConfig:
    keys = tuple(k for k in prov.api_keys if k and not isinstance(k, _Missing))
    if keys == prov.api_keys:
        return prov
    return ProviderConfig(
        name=prov.name,
        kind=prov.kind,
        enabled=prov.enabled,
        base_url=prov.base_url,
        api_keys=keys,
        models=prov.models,
        headers=prov.headers,
        timeouts=prov.timeouts,
        options=prov.options,
    )


# --- typed readers -----------------------------------------------------------


class _Section:
    """A mapping being read, which knows its own key path for error messages."""

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(path, f"expected a mapping, got {_kind(data)}")
        self.data: dict[str, Any] = data
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def only(self, *names: str) -> None:
        for k in self.data:
            if k not in names:
                raise ConfigError(self.key(k), f"unknown key (expected one of: {', '.join(names)})")

    def section(self, name: str) -> _Section:
        return _Section(self.data.get(name), self.key(name))

    def _get(self, name: str) -> Any:
        value = self.data.get(name)
        if isinstance(value, _Missing):
            raise ConfigError(self.key(name), f"environment variable {value.var} is not set")
        return value

    def string(self, name: str, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(self.key(name), f"expected a string, got {_kind(value)}")
        return str(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(self.key(name), f"expected true or false, got {value!r}")

    def integer(self, name: str, default: int, minimum: int | None = None) -> int:
        value = self._get(name)
        if value is None:
            return default
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(self.key(name), f"expected a whole number, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ConfigError(self.key(name), f"must be at least {minimum}, got {number}")
        return number

    def number(self, name: str, default: float, positive: bool = True) -> float:
        value = self._get(name)
        if value is None:
            return default
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(self.key(name), f"expected a number, got {value!r}") from None
        if positive and number <= 0:
            raise ConfigError(self.key(name), f"must be greater than 0, got {value!r}")
        return number

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(self.key(name), f"expected a list of strings, got {_kind(value)}")
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f"{self.key(name)}[{i}]", f"expected a string, got {_kind(item)}")
            out.append(item)
        return tuple(out)

    def path_value(self, name: str, default: Path) -> Path:
        value = self.string(name, "")
        return Path(value).expanduser() if value else default


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _timeouts(sec: _Section, base: TimeoutsConfig) -> TimeoutsConfig:
    sec.only("connect", "first_byte", "idle")
    return TimeoutsConfig(
        connect=sec.number("connect", base.connect),
        first_byte=sec.number("first_byte", base.first_byte),
        idle=sec.number("idle", base.idle),
    )


_DEFAULT_TIMEOUTS = TimeoutsConfig()


def _server(sec: _Section) -> ServerConfig:
    sec.only(
        "host",
        "port",
        "workers",
        "api_keys",
        "max_body_bytes",
        "timeouts",
        "cooldown",
        "shutdown_grace_seconds",
    )
    keys = tuple(k for k in sec.strings("api_keys") if k and not isinstance(k, _Missing))
    host = sec.string("host", "127.0.0.1")
    port = sec.integer("port", 8317, minimum=0)
    if port > 65535:
        raise ConfigError(sec.key("port"), f"must be a TCP port (0-65535), got {port}")
    cd = sec.section("cooldown")
    cd.only("base_seconds", "max_seconds", "auth_failure_seconds")
    return ServerConfig(
        host=host,
        port=port,
        workers=sec.integer("workers", 1, minimum=1),
        api_keys=keys,
        max_body_bytes=sec.integer("max_body_bytes", 32 * 1024 * 1024, minimum=1024),
        timeouts=_timeouts(sec.section("timeouts"), _DEFAULT_TIMEOUTS),
        cooldown=CooldownConfig(
            base_seconds=cd.number("base_seconds", 1.0),
            max_seconds=cd.number("max_seconds", 300.0),
            auth_failure_seconds=cd.number("auth_failure_seconds", 600.0),
        ),
        shutdown_grace_seconds=sec.number("shutdown_grace_seconds", 60.0),
    )


def _management(sec: _Section) -> ManagementConfig:
    sec.only("key", "allow_remote")
    return ManagementConfig(
        key=sec.string("key", ""), allow_remote=sec.boolean("allow_remote", False)
    )


def _auth(sec: _Section) -> AuthConfig:
    sec.only("dir", "store", "dsn")
    store = sec.string("store", "file")
    if store not in ("file", "postgres"):
        raise ConfigError(sec.key("store"), f"expected 'file' or 'postgres', got {store!r}")
    dsn = sec.string("dsn", "")
    if store == "postgres" and not dsn:
        raise ConfigError(sec.key("dsn"), "required when auth.store is postgres")
    return AuthConfig(
        dir=sec.path_value("dir", Path("~/.cli-proxy-api").expanduser()), store=store, dsn=dsn
    )


_PROVIDER_KEYS = ("kind", "enabled", "base_url", "api_keys", "models", "headers", "timeouts")


def _providers(sec: _Section) -> dict[str, ProviderConfig]:
    out: dict[str, ProviderConfig] = {}
    for name in sec.data:
        p = sec.section(name)
        kind = p.string("kind", "")
        if not kind:
            raise ConfigError(
                p.key("kind"), f"required (one of: {', '.join(sorted(EXECUTOR_KINDS))})"
            )
        if kind not in EXECUTOR_KINDS:
            raise ConfigError(
                p.key("kind"),
                f"unknown kind {kind!r} (one of: {', '.join(sorted(EXECUTOR_KINDS))})",
            )
        base_url = p.data.get("base_url")
        base: str
        if isinstance(base_url, _Missing):
            base = base_url
        else:
            base = p.string("base_url", DEFAULT_BASE_URLS[kind]).rstrip("/")
            if not base.startswith(("http://", "https://")):
                raise ConfigError(p.key("base_url"), f"expected an http(s) URL, got {base!r}")
        headers_sec = p.section("headers")
        headers = {k: headers_sec.string(k, "") for k in headers_sec.data}
        options = {k: v for k, v in p.data.items() if k not in _PROVIDER_KEYS}
        out[name] = ProviderConfig(
            name=name,
            kind=kind,
            enabled=p.boolean("enabled", True),
            base_url=base,
            api_keys=p.strings("api_keys"),
            models=p.strings("models"),
            headers=headers,
            timeouts=_timeouts(p.section("timeouts"), _DEFAULT_TIMEOUTS),
            options=options,
        )
    return out


def _routing(sec: _Section, providers: Mapping[str, ProviderConfig]) -> tuple[RouteRule, ...]:
    sec.only("routing")
    rules = sec.data.get("routing") or []
    if not isinstance(rules, list):
        raise ConfigError(sec.key("routing"), f"expected a list of rules, got {_kind(rules)}")
    out: list[RouteRule] = []
    for i, raw in enumerate(rules):
        r = _Section(raw, f"{sec.key('routing')}[{i}]")
        r.only("pattern", "providers", "model", "alias")
        pattern = r.string("pattern", "")
        if not pattern:
            raise ConfigError(r.key("pattern"), "required (a regular expression for model names)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(r.key("pattern"), f"not a valid regular expression: {exc}") from None
        names = r.strings("providers")
        if not names:
            raise ConfigError(r.key("providers"), "required (a list of provider names)")
        for j, name in enumerate(names):
            if name not in providers:
                raise ConfigError(
                    f"{r.key('providers')}[{j}]",
                    f"no provider named {name!r} (defined: {', '.join(providers) or 'none'})",
                )
        alias = r.string("model", "") or r.string("alias", "")
        out.append(RouteRule(pattern=pattern, providers=names, model=alias or None))
    return tuple(out)


def _logging(sec: _Section) -> LoggingConfig:
    sec.only("dir", "level", "max_bytes", "backups")
    level = sec.string("level", "info").lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ConfigError(
            sec.key("level"), f"expected debug, info, warning or error, got {level!r}"
        )
    log_dir = sec.path_value("dir", PROJECT_ROOT / "logs")
    if not log_dir.is_absolute():
        log_dir = PROJECT_ROOT / log_dir
    return LoggingConfig(
        dir=log_dir,
        level=level,
        max_bytes=sec.integer("max_bytes", 10 * 1024 * 1024, minimum=0),
        backups=sec.integer("backups", 5, minimum=0),
    )


def _health(sec: _Section) -> HealthConfig:
    sec.only("interval_seconds", "failures_before_restart", "timeout_seconds")
    return HealthConfig(
        interval_seconds=sec.number("interval_seconds", 30.0),
        failures_before_restart=sec.integer("failures_before_restart", 2, minimum=1),
        timeout_seconds=sec.number("timeout_seconds", 5.0),
    )


def _usage(sec: _Section) -> UsageConfig:
    sec.only("path", "retention_days")
    return UsageConfig(
        path=sec.path_value("path", Path("~/.cli-proxy-api/usage.sqlite3").expanduser()),
        retention_days=sec.integer("retention_days", 90, minimum=1),
    )
