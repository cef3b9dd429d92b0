"""What the suite runs and where: the programs supervisord supervises, and its files.

``config.yaml`` is the one source of truth. This module turns it into a
``Manifest`` (paths, programs, health URLs, log files); the supervisord config
is rendered from the manifest, and the manifest is saved next to it
(``run/suite.json``) so ``status``, ``stop`` and ``logs`` describe the suite
that is *running*, even after someone edits or breaks ``config.yaml``.

``aistudio`` and ``webai`` plug in at ``_service_programs``: each is a
``Program`` with its own command, health URL and ``autostart`` from its
provider's ``enabled``; nothing else in the renderer or status needs to change.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from suite.config import PROJECT_ROOT, Config, env_flag

__all__ = [
    "HEALTHCHECK",
    "HealthcheckSettings",
    "Manifest",
    "Program",
    "SuitePaths",
    "build_manifest",
    "loopback_url",
    "resolve_run_dir",
]

HEALTHCHECK = "healthcheck"
_SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to 107 bytes on Linux; keep a margin


def resolve_run_dir(explicit: str | Path | None = None) -> Path:
    """The private run dir: an explicit path, else ``CLIPROXY_RUN_DIR``, else ``run/``.

    It does not depend on ``config.yaml`` so that ``stop`` works even when the
    config file is broken.
    """
    value = explicit or env_flag("CLIPROXY_RUN_DIR")
    return Path(value).expanduser().absolute() if value else PROJECT_ROOT / "run"


@dataclass(frozen=True, slots=True)
class SuitePaths:
    """Where supervisord keeps its socket, pid file, rendered config and logs."""

    root: Path
    run_dir: Path
    log_dir: Path

    @property
    def conf(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def socket(self) -> Path:
        return self.run_dir / "supervisor.sock"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    @property
    def manifest(self) -> Path:
        return self.run_dir / "suite.json"

    @property
    def health_state(self) -> Path:
        """Written by the healthcheck listener: probe results and restart counts."""
        return self.run_dir / "healthcheck.json"

    @property
    def lock(self) -> Path:
        return self.run_dir / "start.lock"

    @property
    def metrics_dir(self) -> Path:
        """prometheus-client's multiprocess files (several router workers); wiped at start."""
        return self.run_dir / "prometheus"

    @property
    def supervisord_log(self) -> Path:
        return self.log_dir / "supervisord.log"


@dataclass(frozen=True, slots=True)
class Program:
    """One ``[program:x]`` section: a service of the suite.

    ``health_url`` is probed by ``status`` and the healthcheck listener; ``None``
    means the program has no HTTP health (its supervisord state is all we know).
    """

    name: str
    command: tuple[str, ...]
    numprocs: int = 1
    autostart: bool = True
    health_url: str | None = None
    endpoint: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    stopwaitsecs: int = 10
    startsecs: int = 1
    startretries: int = 3
    priority: int = 100

    @property
    def process_names(self) -> tuple[str, ...]:
        """supervisord's names: ``router``, or ``router_00``, ``router_01``... with numprocs."""
        if self.numprocs == 1:
            return (self.name,)
        return tuple(f"{self.name}_{i:02d}" for i in range(self.numprocs))

    def log_files(self, log_dir: Path) -> tuple[Path, ...]:
        """One file per process: several writers must not rotate one file."""
        return tuple(log_dir / f"{p}.log" for p in self.process_names)


@dataclass(frozen=True, slots=True)
class HealthcheckSettings:
    """The ``healthcheck`` event listener's settings (issue 7)."""

    interval_seconds: float
    failures_before_restart: int
    timeout_seconds: float
    kill_after_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything ``render``, ``status``, ``stop`` and ``logs`` need, in one value."""

    paths: SuitePaths
    config: Path
    programs: tuple[Program, ...]
    listener: HealthcheckSettings
    max_bytes: int
    backups: int
    python: str
    user: str | None = None

    def program(self, name: str) -> Program | None:
        return next((p for p in self.programs if p.name == name), None)

    @property
    def stop_timeout(self) -> float:
        """How long a clean shutdown may take: the slowest program's stop wait, plus slack."""
        return max((p.stopwaitsecs for p in self.programs), default=10) + 10.0

    def log_names(self) -> dict[str, tuple[Path, ...]]:
        logs = {p.name: p.log_files(self.paths.log_dir) for p in self.programs}
        logs[HEALTHCHECK] = (self.paths.log_dir / f"{HEALTHCHECK}.log",)
        logs["supervisord"] = (self.paths.supervisord_log,)
        return logs

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["paths"] = {k: str(v) for k, v in data["paths"].items()}
        data["config"] = str(self.config)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        paths = SuitePaths(**{k: Path(v) for k, v in data["paths"].items()})
        programs = tuple(Program(**{**p, "command": tuple(p["command"])}) for p in data["programs"])
        return cls(
            paths=paths,
            config=Path(data["config"]),
            programs=programs,
            listener=HealthcheckSettings(**data["listener"]),
            max_bytes=int(data["max_bytes"]),
            backups=int(data["backups"]),
            python=str(data["python"]),
            user=data.get("user"),
        )


def loopback_url(host: str, port: int, path: str = "") -> str:
    """A URL this machine can reach: a wildcard bind address is probed on loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


def build_manifest(
    config: Config,
    run_dir: str | Path | None = None,
    log_dir: str | Path | None = None,
    python: str | None = None,
) -> Manifest:
    """Derive the suite from a loaded config. Touches no file."""
    logs = log_dir or env_flag("CLIPROXY_LOG_DIR")
    paths = SuitePaths(
        root=PROJECT_ROOT,
        run_dir=resolve_run_dir(run_dir),
        log_dir=Path(logs).expanduser().absolute() if logs else config.logging.dir,
    )
    source = (config.source or PROJECT_ROOT / "config.yaml").absolute()
    interpreter = python or sys.executable
    for what, path in (
        ("project dir", paths.root),
        ("run dir", paths.run_dir),
        ("log dir", paths.log_dir),
        ("config file", source),
        ("python", interpreter),
    ):
        # supervisord expands %(name)s in values, twice for log file names: no way to escape.
        if "%" in str(path) or '"' in str(path):
            raise ValueError(f"{what} {path}: supervisord cannot handle '%' or '\"' in a path")
    if len(str(paths.socket)) > _SOCKET_PATH_MAX:
        raise ValueError(
            f"run dir path too long for a unix socket ({len(str(paths.socket))} bytes): "
            f"{paths.run_dir}; set CLIPROXY_RUN_DIR to a shorter path"
        )
    programs = (
        _router(config, interpreter, source, paths),
        *_service_programs(config, interpreter),
    )
    health = config.health
    return Manifest(
        paths=paths,
        config=source,
        programs=programs,
        listener=HealthcheckSettings(
            interval_seconds=health.interval_seconds,
            failures_before_restart=health.failures_before_restart,
            timeout_seconds=health.timeout_seconds,
        ),
        max_bytes=config.logging.max_bytes,
        backups=config.logging.backups,
        python=interpreter,
        # As root, supervisord logs a CRIT line unless told that root is intended.
        user="root" if os.geteuid() == 0 else None,
    )


def _router(config: Config, python: str, source: Path, paths: SuitePaths) -> Program:
    srv = config.server
    # The run dir lets the router show supervisord's view on /status; with several
    # workers, /metrics sums them through prometheus-client's multiprocess files.
    env = {"CLIPROXY_CONFIG": str(source), "PYTHONUNBUFFERED": "1"}
    env["CLIPROXY_RUN_DIR"] = str(paths.run_dir)
    if srv.workers > 1:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(paths.metrics_dir)
    return Program(
        name="router",
        command=(python, "-m", "router"),
        numprocs=srv.workers,
        health_url=loopback_url(srv.host, srv.port, "/healthz"),
        endpoint=loopback_url(srv.host, srv.port),
        environment=env,
        # supervisord must wait at least as long as the router drains streams.
        stopwaitsecs=math.ceil(srv.shutdown_grace_seconds) + 5,
        priority=100,
    )


def _service_programs(config: Config, python: str) -> Sequence[Program]:
    """The optional services: ``aistudio`` (browser pool) and ``webai``.

    Each becomes a Program with ``autostart=provider.enabled``, its own
    ``python -m`` command and its loopback health URL, priority 200 so the
    router is up first.
    """
    programs = (_aistudio(config, python), _webai(config, python))
    return tuple(p for p in programs if p is not None)


def _aistudio(config: Config, python: str) -> Program | None:
    """The browser pool of the first ``kind: aistudio`` provider (health on ``:8407``)."""
    prov = next((p for p in config.providers.values() if p.kind == "aistudio"), None)
    if prov is None:
        return None
    health = prov.options.get("health")
    health = health if isinstance(health, dict) else {}
    port = health.get("port", 8407)
    host = str(health.get("host", "127.0.0.1"))
    source = (config.source or PROJECT_ROOT / "config.yaml").absolute()
    return Program(
        name="aistudio",
        command=(python, "-m", "aistudio", "--provider", prov.name),
        autostart=prov.enabled,
        health_url=loopback_url(host, int(port), "/healthz") if port else None,
        environment={"CLIPROXY_CONFIG": str(source), "PYTHONUNBUFFERED": "1"},
        stopwaitsecs=30,  # browser.close_timeout (10 s) + stopping the driver (at most 15 s)
        priority=200,
    )


def _webai(config: Config, python: str) -> Program | None:
    """The webai service of the ``kind: webai`` provider named ``webai`` (else the first one),
    listening on its ``url`` (default ``http://127.0.0.1:8406``) or ``port``."""
    ours = [p for p in config.providers.values() if p.kind == "webai"]
    prov = next((p for p in ours if p.name == "webai"), ours[0] if ours else None)
    if prov is None:
        return None
    url = urlsplit(str(prov.options.get("url") or prov.base_url or "http://127.0.0.1:8406"))
    host = url.hostname or "127.0.0.1"
    port = int(prov.options.get("port") or url.port or 8406)
    source = (config.source or PROJECT_ROOT / "config.yaml").absolute()
    return Program(
        name="webai",
        command=(python, "-m", "webai", "--provider", prov.name),
        autostart=prov.enabled,
        health_url=loopback_url(host, port, "/healthz"),
        endpoint=loopback_url(host, port),
        environment={"CLIPROXY_CONFIG": str(source), "PYTHONUNBUFFERED": "1"},
        stopwaitsecs=15,  # finishing answers in flight, saving rotated cookies
        priority=200,
    )
