"""Load ``config.yaml`` into typed, validated objects: the public surface of ``suite``'s
configuration.

This is the only module that reads the environment: ``${VAR}`` and
``${VAR:-default}`` are expanded here, and ``CLIPROXY_CONFIG`` picks the file.
Validation errors name the key and what was expected, so the entry points can
print one line and exit non-zero instead of a traceback. The work is split by
job: ``_reader`` (typed access, expansion), ``_settings`` (the sections' types),
``_kinds`` (one record per provider kind), ``_server`` and ``_providers`` (the
readers of each section).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ._kinds import (
    KINDS,
    AIStudioOptions,
    CodexOptions,
    CtoNewOptions,
    HTTPOptions,
    KindOptions,
    OpenAIOptions,
    ProviderKind,
    SignInOptions,
    WebAIOptions,
)
from ._providers import drop_missing, read_providers, read_routing
from ._reader import ConfigError, Section, expand, require_set
from ._server import (
    read_auth,
    read_health,
    read_logging,
    read_management,
    read_metrics,
    read_server,
    read_services,
    read_usage,
)
from ._settings import (
    PROJECT_ROOT,
    STRATEGIES,
    AuthConfig,
    BreakerConfig,
    CaptureConfig,
    CooldownConfig,
    HealthConfig,
    LimitsConfig,
    LoggingConfig,
    ManagementConfig,
    MetricsConfig,
    ProviderConfig,
    RetryConfig,
    RouteRule,
    ServerConfig,
    ServicesConfig,
    TimeoutsConfig,
    UsageConfig,
)
from .proxies import InvalidProxy

__all__ = [
    "AIStudioOptions",
    "AuthConfig",
    "BreakerConfig",
    "CaptureConfig",
    "CodexOptions",
    "Config",
    "ConfigError",
    "CooldownConfig",
    "CtoNewOptions",
    "DEFAULT_BASE_URLS",
    "EXECUTOR_KINDS",
    "Environment",
    "HTTPOptions",
    "HealthConfig",
    "KINDS",
    "KindOptions",
    "LimitsConfig",
    "LoggingConfig",
    "ManagementConfig",
    "MetricsConfig",
    "OpenAIOptions",
    "PROJECT_ROOT",
    "ProviderConfig",
    "ProviderKind",
    "RetryConfig",
    "RouteRule",
    "STRATEGIES",
    "ServerConfig",
    "ServicesConfig",
    "SignInOptions",
    "TimeoutsConfig",
    "UsageConfig",
    "WebAIOptions",
    "config_path",
    "export_environment",
    "load_config",
    "parse_config",
    "process_environment",
]

DEFAULT_CONFIG = PROJECT_ROOT / "config.yaml"
EXECUTOR_KINDS = frozenset(KINDS)
DEFAULT_BASE_URLS = {name: kind.default_base_url for name, kind in KINDS.items()}


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
    # HTTP_PROXY, HTTPS_PROXY, NO_PROXY (or lower case): used only with server.proxy_url: env
    http_proxy: str = field(default="", repr=False)
    https_proxy: str = field(default="", repr=False)
    no_proxy: str = ""

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
            http_proxy=get("HTTP_PROXY") or get("http_proxy"),
            https_proxy=get("HTTPS_PROXY") or get("https_proxy"),
            no_proxy=get("NO_PROXY") or get("no_proxy"),
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
    environment = Environment.read(env)
    server = _with_env_proxies(read_server(root.section("server")), environment)
    providers = read_providers(root.section("providers"), server.timeouts)
    routing = read_routing(root.section("models"), providers)
    used = {name for rule in routing for name in rule.providers}
    for name, prov in providers.items():
        if name in used and prov.enabled:
            require_set(prov.api_keys, f"providers.{name}.api_keys")
            require_set((prov.base_url,), f"providers.{name}.base_url")
    providers = {
        name: drop_missing(prov, server.limits, server.proxy) for name, prov in providers.items()
    }
    auth = read_auth(root.section("auth"))
    if server.shared_state == "postgres" and not auth.dsn:
        raise ConfigError("server.shared_state", "postgres needs auth.dsn (the database to share)")
    return Config(
        server=server,
        management=read_management(root.section("management")),
        services=read_services(root.section("services")),
        auth=auth,
        providers=providers,
        routing=routing,
        logging=read_logging(root.section("logging"), auth.dir),
        health=read_health(root.section("health")),
        usage=read_usage(root.section("usage"), auth.dir),
        metrics=read_metrics(root.section("metrics")),
        env=environment,
        source=source,
        raw=expanded,
    )


def _with_env_proxies(server: ServerConfig, env: Environment) -> ServerConfig:
    """``server.proxy_url: env``: the environment's proxies, read above, handed in."""
    try:
        proxy = server.proxy.with_env(env.http_proxy, env.https_proxy, env.no_proxy)
    except InvalidProxy as exc:
        raise ConfigError("server.proxy_url", f"env: {exc}") from None
    return replace(server, proxy=proxy)
