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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ._reader import ConfigError, Missing, Section, expand, kind_of, require_set

__all__ = [
    "AuthConfig",
    "CaptureConfig",
    "Config",
    "ConfigError",
    "CooldownConfig",
    "DEFAULT_BASE_URLS",
    "EXECUTOR_KINDS",
    "Environment",
    "HealthConfig",
    "LimitsConfig",
    "LoggingConfig",
    "ManagementConfig",
    "MetricsConfig",
    "ProviderConfig",
    "RouteRule",
    "ServerConfig",
    "ServicesConfig",
    "TimeoutsConfig",
    "UsageConfig",
    "config_path",
    "export_environment",
    "load_config",
    "parse_config",
    "process_environment",
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
class LimitsConfig:
    """What one client may cost the router (``server.limits``, docs/operations.md).

    A client that holds a connection without finishing its request, or opens
    many, must not use up descriptors and memory that other clients and
    ``/healthz`` need: headers are bounded in size and time, bodies in time,
    idle keep-alive connections in time, and connections in number. An upstream's
    answer is bounded too (docs/routing.md): a whole non-stream body by
    ``max_response_bytes``, one line of a stream by ``max_sse_line_bytes``.
    """

    max_connections: int = 1024
    max_header_bytes: int = 65536
    header_seconds: float = 10.0
    body_seconds: float = 300.0
    body_idle_seconds: float = 30.0
    keepalive_seconds: float = 60.0
    max_response_bytes: int = 64 * 1024 * 1024
    max_sse_line_bytes: int = 8 * 1024 * 1024


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
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    # Where workers share credential states and counters (docs/shared-state.md):
    # auto = postgres with auth.store postgres, else host with several workers, else local.
    shared_state: str = "auto"


@dataclass(frozen=True, slots=True)
class ManagementConfig:
    key: str = ""
    allow_remote: bool = False


@dataclass(frozen=True, slots=True)
class ServicesConfig:
    """``/v1/ws`` relay: the token services present, how often the router pings them and
    after how much silence a service is dropped."""

    token: str = ""
    ping_seconds: float = 30.0
    silent_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class AuthConfig:
    dir: Path = Path("~/.cli-proxy-api").expanduser()
    store: str = "file"
    dsn: str = ""
    # How often the store is checked for credentials added, changed or removed elsewhere.
    poll_seconds: float = 2.0


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
    # ``server.limits``, copied here for the executor (it bounds what it reads).
    limits: LimitsConfig = field(default_factory=LimitsConfig)


@dataclass(frozen=True, slots=True)
class RouteRule:
    """``pattern`` is matched with ``re.search``; ``model`` renames the model upstream."""

    pattern: str
    providers: tuple[str, ...]
    model: str | None = None


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    """``logging.capture``: every request's bodies kept on disk for debugging, in a ring
    of at most ``max_mb`` (docs/observability.md). ``dir`` defaults to ``captures`` in
    the data dir (``auth.dir``)."""

    enabled: bool = False
    max_mb: float = 200.0
    dir: Path = Path("~/.cli-proxy-api/captures").expanduser()


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    dir: Path = PROJECT_ROOT / "logs"
    level: str = "info"
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 5
    capture: CaptureConfig = field(default_factory=CaptureConfig)


@dataclass(frozen=True, slots=True)
class HealthConfig:
    interval_seconds: float = 30.0
    failures_before_restart: int = 2
    timeout_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class UsageConfig:
    """Per-request usage records (docs/observability.md): SQLite at ``path`` (default:
    in ``auth.dir``), or the PostgreSQL of ``auth.dsn`` when ``auth.store`` is postgres."""

    path: Path = Path("~/.cli-proxy-api/usage.sqlite3").expanduser()
    retention_days: int = 90
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``GET /metrics`` (Prometheus); off only to measure what it costs."""

    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Environment:
    """The environment variables the programs use besides ``${VAR}`` in config.yaml.

    Read here, once, and handed on (``Config.env``), so that no other module reads
    the environment: what a program depends on is visible in one place.
    """

    run_dir: str = ""  # CLIPROXY_RUN_DIR: the private run dir (start.sh, supervisord)
    log_dir: str = ""  # CLIPROXY_LOG_DIR: overrides logging.dir for the suite
    prometheus_dir: str = ""  # PROMETHEUS_MULTIPROC_DIR: router workers share /metrics
    display: str = ""  # DISPLAY, else WAYLAND_DISPLAY: a visible browser can open
    programs: str = ""  # CLIPROXY_PROGRAMS: the container runs only these programs
    xvfb: str = ""  # CLIPROXY_XVFB: the container starts a virtual display
    ci: bool = False  # CI: under CI, tests fail where they would skip

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Environment:
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return env.get(name, "").strip()

        return cls(
            run_dir=get("CLIPROXY_RUN_DIR"),
            log_dir=get("CLIPROXY_LOG_DIR"),
            prometheus_dir=get("PROMETHEUS_MULTIPROC_DIR"),
            display=get("DISPLAY") or get("WAYLAND_DISPLAY"),
            programs=get("CLIPROXY_PROGRAMS"),
            xvfb=get("CLIPROXY_XVFB"),
            ci=get("CI").lower() not in ("", "0", "false", "no"),
        )


def process_environment() -> dict[str, str]:
    """A copy of this process's environment, for a child process to start from."""
    return dict(os.environ)


def export_environment(name: str, value: str) -> None:
    """Set a variable for this process and its children: for a library that takes a
    setting only from the environment, or a display the supervised programs inherit."""
    os.environ[name] = value


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
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    env: Environment = field(default_factory=Environment)
    source: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: an explicit path, else ``CLIPROXY_CONFIG``, else ``config.yaml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("CLIPROXY_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


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
    expanded = expand(data, env)
    root = Section(expanded, "")
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
        "metrics",
    )
    server = _server(root.section("server"))
    providers = _providers(root.section("providers"))
    routing = _routing(root.section("models"), providers)
    used = {name for rule in routing for name in rule.providers}
    for name, prov in providers.items():
        if name in used and prov.enabled:
            require_set(prov.api_keys, f"providers.{name}.api_keys")
            require_set((prov.base_url,), f"providers.{name}.base_url")
    providers = {
        name: replace(_drop_missing(prov), limits=server.limits) for name, prov in providers.items()
    }
    auth = _auth(root.section("auth"))
    if server.shared_state == "postgres" and not auth.dsn:
        raise ConfigError("server.shared_state", "postgres needs auth.dsn (the database to share)")
    return Config(
        server=server,
        management=_management(root.section("management")),
        services=_services(root.section("services")),
        auth=auth,
        providers=providers,
        routing=routing,
        logging=_logging(root.section("logging"), auth.dir),
        health=_health(root.section("health")),
        usage=_usage(root.section("usage"), auth.dir),
        metrics=_metrics(root.section("metrics")),
        env=Environment.read(env),
        source=source,
        raw=expanded,
    )


def _drop_missing(prov: ProviderConfig) -> ProviderConfig:
    keys = tuple(k for k in prov.api_keys if k and not isinstance(k, Missing))
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


def _timeouts(sec: Section, base: TimeoutsConfig) -> TimeoutsConfig:
    sec.only("connect", "first_byte", "idle")
    return TimeoutsConfig(
        connect=sec.number("connect", base.connect),
        first_byte=sec.number("first_byte", base.first_byte),
        idle=sec.number("idle", base.idle),
    )


_DEFAULT_TIMEOUTS = TimeoutsConfig()
_SHARED_STATES = ("auto", "local", "host", "postgres")


def _server(sec: Section) -> ServerConfig:
    sec.only(
        "host",
        "port",
        "workers",
        "api_keys",
        "max_body_bytes",
        "timeouts",
        "cooldown",
        "shutdown_grace_seconds",
        "limits",
        "shared_state",
    )
    shared_state = sec.string("shared_state", "auto")
    if shared_state not in _SHARED_STATES:
        raise ConfigError(
            sec.key("shared_state"),
            f"expected one of {', '.join(_SHARED_STATES)}, got {shared_state!r}",
        )
    keys = tuple(k for k in sec.strings("api_keys") if k and not isinstance(k, Missing))
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
        limits=_limits(sec.section("limits")),
        shared_state=shared_state,
    )


def _limits(sec: Section) -> LimitsConfig:
    sec.only(
        "max_connections",
        "max_header_bytes",
        "header_seconds",
        "body_seconds",
        "body_idle_seconds",
        "keepalive_seconds",
        "max_response_bytes",
        "max_sse_line_bytes",
    )
    base = LimitsConfig()

    def seconds(name: str, default: float) -> float:
        value = sec.number(name, default)
        if not value <= 86400:  # also refuses NaN and infinity: timers need a number
            raise ConfigError(sec.key(name), f"must be at most 86400 seconds, got {value!r}")
        return value

    return LimitsConfig(
        max_connections=sec.integer("max_connections", base.max_connections, minimum=16),
        max_header_bytes=sec.integer("max_header_bytes", base.max_header_bytes, minimum=4096),
        header_seconds=seconds("header_seconds", base.header_seconds),
        body_seconds=seconds("body_seconds", base.body_seconds),
        body_idle_seconds=seconds("body_idle_seconds", base.body_idle_seconds),
        keepalive_seconds=seconds("keepalive_seconds", base.keepalive_seconds),
        max_response_bytes=sec.integer(
            "max_response_bytes", base.max_response_bytes, minimum=65536
        ),
        max_sse_line_bytes=sec.integer(
            "max_sse_line_bytes", base.max_sse_line_bytes, minimum=65536
        ),
    )


def _management(sec: Section) -> ManagementConfig:
    sec.only("key", "allow_remote")
    return ManagementConfig(
        key=sec.string("key", ""), allow_remote=sec.boolean("allow_remote", False)
    )


def _services(sec: Section) -> ServicesConfig:
    sec.only("token", "ping_seconds", "silent_seconds")
    return ServicesConfig(
        token=sec.string("token", ""),
        ping_seconds=sec.number("ping_seconds", 30.0),
        silent_seconds=sec.number("silent_seconds", 60.0),
    )


def _auth(sec: Section) -> AuthConfig:
    sec.only("dir", "store", "dsn", "poll_seconds")
    store = sec.string("store", "file")
    if store not in ("file", "postgres"):
        raise ConfigError(sec.key("store"), f"expected 'file' or 'postgres', got {store!r}")
    dsn = sec.string("dsn", "")
    if store == "postgres" and not dsn:
        raise ConfigError(sec.key("dsn"), "required when auth.store is postgres")
    return AuthConfig(
        dir=sec.path_value("dir", Path("~/.cli-proxy-api").expanduser()),
        store=store,
        dsn=dsn,
        poll_seconds=max(0.05, sec.number("poll_seconds", 2.0)),
    )


_PROVIDER_KEYS = ("kind", "enabled", "base_url", "api_keys", "models", "headers", "timeouts")


def _providers(sec: Section) -> dict[str, ProviderConfig]:
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
        if isinstance(base_url, Missing):
            base = base_url
        else:
            base = p.string("base_url", DEFAULT_BASE_URLS[kind]).rstrip("/")
            if not base.startswith(("http://", "https://")):
                raise ConfigError(p.key("base_url"), f"expected an http(s) URL, got {base!r}")
        headers_sec = p.section("headers")
        headers = {k: headers_sec.string(k, "") for k in headers_sec.data}
        options = {k: v for k, v in p.data.items() if k not in _PROVIDER_KEYS}
        if "client" in p.data:
            options["client"] = _client_profile(p, kind)
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


def _routing(sec: Section, providers: Mapping[str, ProviderConfig]) -> tuple[RouteRule, ...]:
    sec.only("routing")
    rules = sec.data.get("routing") or []
    if not isinstance(rules, list):
        raise ConfigError(sec.key("routing"), f"expected a list of rules, got {kind_of(rules)}")
    out: list[RouteRule] = []
    for i, raw in enumerate(rules):
        r = Section(raw, f"{sec.key('routing')}[{i}]")
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


def _logging(sec: Section, data_dir: Path) -> LoggingConfig:
    sec.only("dir", "level", "max_bytes", "backups", "capture")
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
        capture=_capture(sec.section("capture"), data_dir),
    )


def _capture(sec: Section, data_dir: Path) -> CaptureConfig:
    sec.only("enabled", "max_mb", "dir")
    return CaptureConfig(
        enabled=sec.boolean("enabled", False),
        max_mb=sec.number("max_mb", 200.0),
        dir=sec.path_value("dir", data_dir / "captures"),
    )


def _health(sec: Section) -> HealthConfig:
    sec.only("interval_seconds", "failures_before_restart", "timeout_seconds")
    return HealthConfig(
        interval_seconds=sec.number("interval_seconds", 30.0),
        failures_before_restart=sec.integer("failures_before_restart", 2, minimum=1),
        timeout_seconds=sec.number("timeout_seconds", 5.0),
    )


def _usage(sec: Section, data_dir: Path) -> UsageConfig:
    """``path`` defaults to ``usage.sqlite3`` in the data dir (``auth.dir``)."""
    sec.only("path", "retention_days", "enabled")
    return UsageConfig(
        path=sec.path_value("path", data_dir / "usage.sqlite3"),
        retention_days=sec.integer("retention_days", 90, minimum=1),
        enabled=sec.boolean("enabled", True),
    )


def _metrics(sec: Section) -> MetricsConfig:
    sec.only("enabled")
    return MetricsConfig(enabled=sec.boolean("enabled", True))
