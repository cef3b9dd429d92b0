"""The configuration's sections as typed, frozen values (read by ``suite.config``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._kinds import KindOptions
from .proxies import Proxy, ProxyPolicy

__all__ = [
    "AuthConfig",
    "BreakerConfig",
    "CaptureConfig",
    "CooldownConfig",
    "HealthConfig",
    "LimitsConfig",
    "LoggingConfig",
    "ManagementConfig",
    "MetricsConfig",
    "PROJECT_ROOT",
    "ProviderConfig",
    "RetryConfig",
    "RouteRule",
    "STRATEGIES",
    "ServerConfig",
    "ServicesConfig",
    "TimeoutsConfig",
    "UsageConfig",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# How the credentials of a provider take turns (docs/routing.md); the first is the default.
STRATEGIES = ("round-robin", "fill-first", "sticky", "quota-aware")


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
class BreakerConfig:
    """``server.breaker``: after ``failures`` connection errors, timeouts or 5xx in a row
    a credential rests ``base_seconds``, doubled at each failed probe up to
    ``max_seconds``; then one request probes it (docs/routing.md)."""

    failures: int = 3
    base_seconds: float = 5.0
    max_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """``server.retry``: when every candidate rests and the first wakes within
    ``max_wait_seconds``, the request waits for it instead of failing (0: never)."""

    max_wait_seconds: float = 0.0


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
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    # Where workers share credential states and counters (docs/shared-state.md):
    # auto = postgres with auth.store postgres, else host with several workers, else local.
    shared_state: str = "auto"
    # server.proxy_url: every outbound connection's proxy unless a provider or a
    # credential names its own (suite.proxies, docs/operations.md "Outbound proxy").
    proxy: ProxyPolicy = field(default_factory=ProxyPolicy)
    # server.keepalive_seconds: while no upstream has sent its first content, a stream
    # is opened and given the client format's idle signal every N s (0: off), so a
    # proxy in front (Cloudflare: 100 s) does not cut a long think; keepalive_nonstream
    # does the same for non-stream answers (docs/routing.md "Keep-alive").
    keepalive_seconds: float = 0.0
    keepalive_nonstream: bool = False


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

    ``settings`` holds the kind's own options, typed and checked at load
    (``suite._kinds``); ``options`` keeps the same keys as a plain mapping for
    the readers that take them by name (the aistudio and webai services).
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
    settings: KindOptions = field(default_factory=KindOptions)
    # How this provider's credentials take turns (a rule's ``strategy`` wins).
    strategy: str | None = None
    # Its own ``proxy_url`` ("", "direct" or a URL), and the proxy its executor uses:
    # that one, else server.proxy_url for base_url (None: direct; suite.proxies).
    proxy_url: str = field(default="", repr=False)
    proxy: Proxy | None = None


@dataclass(frozen=True, slots=True)
class RouteRule:
    """``pattern`` is matched with ``re.search``; ``model`` renames the model upstream.

    ``provider_models`` is aligned with ``providers``: an entry's own upstream name
    (``{name: p, model: m}``), or None for the rule's. ``fallbacks`` are other model
    names tried, each by its own rule, when every provider of this one failed.
    """

    pattern: str
    providers: tuple[str, ...]
    model: str | None = None
    provider_models: tuple[str | None, ...] = ()
    fallbacks: tuple[str, ...] = ()
    strategy: str | None = None


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
