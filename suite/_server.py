"""Readers of the sections other than providers and routing (``suite.config``)."""

from __future__ import annotations

from pathlib import Path

from ._reader import ConfigError, Missing, Section
from ._settings import (
    PROJECT_ROOT,
    AuthConfig,
    BreakerConfig,
    CaptureConfig,
    CooldownConfig,
    HealthConfig,
    LimitsConfig,
    LoggingConfig,
    ManagementConfig,
    MetricsConfig,
    RetryConfig,
    ServerConfig,
    ServicesConfig,
    TimeoutsConfig,
    UsageConfig,
)
from .proxies import ProxyPolicy, config_proxy_url

__all__ = [
    "read_auth",
    "read_health",
    "read_logging",
    "read_management",
    "read_metrics",
    "read_server",
    "read_services",
    "read_timeouts",
    "read_usage",
]

_SHARED_STATES = ("auto", "local", "host", "postgres")


def read_timeouts(sec: Section, base: TimeoutsConfig) -> TimeoutsConfig:
    sec.only("connect", "first_byte", "idle")
    return TimeoutsConfig(
        connect=sec.number("connect", base.connect),
        first_byte=sec.number("first_byte", base.first_byte),
        idle=sec.number("idle", base.idle),
    )


def read_server(sec: Section) -> ServerConfig:
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
        "breaker",
        "retry",
        "proxy_url",
        "keepalive_seconds",
        "keepalive_nonstream",
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
    timeouts = read_timeouts(sec.section("timeouts"), TimeoutsConfig())
    cd.only("base_seconds", "max_seconds", "auth_failure_seconds")
    return ServerConfig(
        host=host,
        port=port,
        workers=sec.integer("workers", 1, minimum=1),
        api_keys=keys,
        max_body_bytes=sec.integer("max_body_bytes", 32 * 1024 * 1024, minimum=1024),
        timeouts=timeouts,
        cooldown=CooldownConfig(
            base_seconds=cd.number("base_seconds", 1.0),
            max_seconds=cd.number("max_seconds", 300.0),
            auth_failure_seconds=cd.number("auth_failure_seconds", 600.0),
        ),
        shutdown_grace_seconds=sec.number("shutdown_grace_seconds", 60.0),
        limits=_limits(sec.section("limits")),
        shared_state=shared_state,
        breaker=_breaker(sec.section("breaker")),
        retry=_retry(sec.section("retry")),
        proxy=ProxyPolicy(
            config_proxy_url(sec.string("proxy_url", ""), sec.key("proxy_url"), allow_env=True)
        ),
        keepalive_seconds=_keepalive(sec),
        keepalive_nonstream=sec.boolean("keepalive_nonstream", False),
    )


def _keepalive(sec: Section) -> float:
    """0 (off, the default) or a period a proxy's idle limit allows (Cloudflare: 100 s)."""
    value = sec.number("keepalive_seconds", 0.0, positive=False)
    if not (value == 0 or 1 <= value <= 600):  # also refuses NaN and infinity
        raise ConfigError(
            sec.key("keepalive_seconds"), f"expected 0 (off) or 1 to 600 seconds, got {value!r}"
        )
    return value


def _breaker(sec: Section) -> BreakerConfig:
    sec.only("failures", "base_seconds", "max_seconds")
    base = BreakerConfig()
    out = BreakerConfig(
        failures=sec.integer("failures", base.failures, minimum=1),
        base_seconds=sec.number("base_seconds", base.base_seconds),
        max_seconds=sec.number("max_seconds", base.max_seconds),
    )
    if out.max_seconds < out.base_seconds:
        raise ConfigError(sec.key("max_seconds"), "must be at least base_seconds")
    return out


def _retry(sec: Section) -> RetryConfig:
    sec.only("max_wait_seconds")
    wait = sec.number("max_wait_seconds", 0.0, positive=False)
    if not 0 <= wait <= 600:  # also refuses NaN: a request never waits for ever
        raise ConfigError(sec.key("max_wait_seconds"), f"expected 0 to 600 seconds, got {wait!r}")
    return RetryConfig(max_wait_seconds=wait)


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


def read_management(sec: Section) -> ManagementConfig:
    sec.only("key", "allow_remote")
    return ManagementConfig(
        key=sec.string("key", ""), allow_remote=sec.boolean("allow_remote", False)
    )


def read_services(sec: Section) -> ServicesConfig:
    sec.only("token", "ping_seconds", "silent_seconds")
    return ServicesConfig(
        token=sec.string("token", ""),
        ping_seconds=sec.number("ping_seconds", 30.0),
        silent_seconds=sec.number("silent_seconds", 60.0),
    )


def read_auth(sec: Section) -> AuthConfig:
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


def read_logging(sec: Section, data_dir: Path) -> LoggingConfig:
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


def read_health(sec: Section) -> HealthConfig:
    sec.only("interval_seconds", "failures_before_restart", "timeout_seconds")
    return HealthConfig(
        interval_seconds=sec.number("interval_seconds", 30.0),
        failures_before_restart=sec.integer("failures_before_restart", 2, minimum=1),
        timeout_seconds=sec.number("timeout_seconds", 5.0),
    )


def read_usage(sec: Section, data_dir: Path) -> UsageConfig:
    """``path`` defaults to ``usage.sqlite3`` in the data dir (``auth.dir``)."""
    sec.only("path", "retention_days", "enabled")
    return UsageConfig(
        path=sec.path_value("path", data_dir / "usage.sqlite3"),
        retention_days=sec.integer("retention_days", 90, minimum=1),
        enabled=sec.boolean("enabled", True),
    )


def read_metrics(sec: Section) -> MetricsConfig:
    sec.only("enabled")
    return MetricsConfig(enabled=sec.boolean("enabled", True))
