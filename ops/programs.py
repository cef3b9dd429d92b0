"""What the suite runs and where: the programs of ``supervisord.conf``, and its files.

``config.yaml`` is the one source of truth. This module turns it into a
``Manifest`` (paths, programs, health URLs, log files). The checked-in
``supervisord.conf`` reads the manifest's values from the environment
(``ops/supervisor_env.py`` writes them to ``run/env``), and the manifest is
saved next to them (``run/suite.json``) so ``status``, ``stop`` and ``logs``
describe the suite that is *running*, even after someone edits or breaks
``config.yaml``.

The programs are the sections of ``supervisord.conf``: ``router`` (always,
``numprocs`` = ``server.workers``), ``aistudio`` and ``webai`` (``autostart``
from their provider's ``enabled``; listed even when no such provider is
configured, since the file always has their sections).
"""

from __future__ import annotations

import math
import os
import pwd
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from suite.config import PROJECT_ROOT, Config, Environment

__all__ = [
    "CONF",
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
CONF = PROJECT_ROOT / "supervisord.conf"
_SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to 107 bytes on Linux; keep a margin
# supervisord expands %(name)s in values, twice for log file names, and splits
# commands and environment= with shlex: none of these can be escaped for it.
_UNSAFE = ("%", '"', "\\", "\n")


def resolve_run_dir(explicit: str | Path | None = None) -> Path:
    """The private run dir: an explicit path, else ``CLIPROXY_RUN_DIR``, else ``run/``.

    It does not depend on ``config.yaml`` so that ``stop`` works even when the
    config file is broken.
    """
    value = explicit or Environment.read().run_dir
    return Path(value).expanduser().absolute() if value else PROJECT_ROOT / "run"


@dataclass(frozen=True, slots=True)
class SuitePaths:
    """Where supervisord keeps its socket, pid file and logs, and the file it runs."""

    root: Path
    run_dir: Path
    log_dir: Path
    conf: Path = CONF

    @property
    def env(self) -> Path:
        """``export NAME=value`` lines that ``supervisord.conf`` expands (0600)."""
        return self.run_dir / "env"

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
    """One ``[program:x]`` section of ``supervisord.conf``: a service of the suite.

    ``numbered``: its processes are ``NAME_00``, ``NAME_01``... (``process_name =
    %(program_name)s_%(process_num)02d``), even when there is one; else one process
    named ``NAME``. ``health_url`` is probed by ``status`` and the healthcheck
    listener; ``None`` means the program has no HTTP health. ``provider`` is the
    config's provider the program serves (``--provider``), if any.
    """

    name: str
    numbered: bool = False
    numprocs: int = 1
    autostart: bool = True
    provider: str | None = None
    health_url: str | None = None
    endpoint: str | None = None
    stopwaitsecs: int = 10

    @property
    def process_names(self) -> tuple[str, ...]:
        """supervisord's names: ``router_00``, ``router_01``..., or ``aistudio``."""
        if not self.numbered:
            return (self.name,)
        return tuple(f"{self.name}_{i:02d}" for i in range(self.numprocs))

    def log_files(self, log_dir: Path) -> tuple[Path, ...]:
        """One file per process: several writers must not rotate one file."""
        return tuple(log_dir / f"{p}.log" for p in self.process_names)


@dataclass(frozen=True, slots=True)
class HealthcheckSettings:
    """The ``healthcheck`` event listener's settings (config ``health``)."""

    interval_seconds: float
    failures_before_restart: int
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything ``env``, ``status``, ``stop`` and ``logs`` need, in one value."""

    paths: SuitePaths
    config: Path
    programs: tuple[Program, ...]
    listener: HealthcheckSettings
    max_bytes: int
    backups: int
    python: str
    user: str

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
        programs = tuple(Program(**p) for p in data["programs"])
        return cls(
            paths=paths,
            config=Path(data["config"]),
            programs=programs,
            listener=HealthcheckSettings(**data["listener"]),
            max_bytes=int(data["max_bytes"]),
            backups=int(data["backups"]),
            python=str(data["python"]),
            user=str(data["user"]),
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


def _user() -> str:
    """The name supervisord's ``user`` option gets: whoever runs it."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise ValueError(
            f"uid {uid} has no entry in the user database; supervisord.conf's `user` needs one"
        ) from None


def build_manifest(
    config: Config,
    run_dir: str | Path | None = None,
    log_dir: str | Path | None = None,
    python: str | None = None,
) -> Manifest:
    """Derive the suite from a loaded config. Touches no file."""
    logs = log_dir or config.env.log_dir
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
        bad = [c for c in _UNSAFE if c in str(path)]
        if bad:
            raise ValueError(f"{what} {path}: supervisord cannot handle {bad[0]!r} in a path")
    if len(str(paths.socket)) > _SOCKET_PATH_MAX:
        raise ValueError(
            f"run dir path too long for a unix socket ({len(str(paths.socket))} bytes): "
            f"{paths.run_dir}; set CLIPROXY_RUN_DIR to a shorter path"
        )
    health = config.health
    return Manifest(
        paths=paths,
        config=source,
        programs=(_router(config), _aistudio(config), _webai(config)),
        listener=HealthcheckSettings(
            interval_seconds=health.interval_seconds,
            failures_before_restart=health.failures_before_restart,
            timeout_seconds=health.timeout_seconds,
        ),
        max_bytes=config.logging.max_bytes,
        backups=config.logging.backups,
        python=interpreter,
        user=_user(),
    )


def _router(config: Config) -> Program:
    srv = config.server
    return Program(
        name="router",
        numbered=True,
        numprocs=srv.workers,
        health_url=loopback_url(srv.host, srv.port, "/healthz"),
        endpoint=loopback_url(srv.host, srv.port),
        # supervisord must wait at least as long as the router drains streams.
        stopwaitsecs=math.ceil(srv.shutdown_grace_seconds) + 5,
    )


def _aistudio(config: Config) -> Program:
    """The browser pool of the first ``kind: aistudio`` provider (health on ``:8407``)."""
    prov = next((p for p in config.providers.values() if p.kind == "aistudio"), None)
    if prov is None:
        return Program(name="aistudio", autostart=False, stopwaitsecs=30)
    health = prov.options.get("health")
    health = health if isinstance(health, dict) else {}
    port = health.get("port", 8407)
    host = str(health.get("host", "127.0.0.1"))
    return Program(
        name="aistudio",
        autostart=prov.enabled,
        provider=prov.name,
        health_url=loopback_url(host, int(port), "/healthz") if port else None,
        stopwaitsecs=30,  # as supervisord.conf: close_timeout (10 s) + the driver (15 s)
    )


def _webai(config: Config) -> Program:
    """The webai service of the ``kind: webai`` provider named ``webai`` (else the first one),
    listening on its ``url`` (default ``http://127.0.0.1:8406``) or ``port``."""
    ours = [p for p in config.providers.values() if p.kind == "webai"]
    prov = next((p for p in ours if p.name == "webai"), ours[0] if ours else None)
    if prov is None:
        return Program(name="webai", autostart=False, stopwaitsecs=15)
    url = urlsplit(str(prov.options.get("url") or prov.base_url or "http://127.0.0.1:8406"))
    host = url.hostname or "127.0.0.1"
    port = int(prov.options.get("port") or url.port or 8406)
    return Program(
        name="webai",
        autostart=prov.enabled,
        provider=prov.name,
        health_url=loopback_url(host, port, "/healthz"),
        endpoint=loopback_url(host, port),
        stopwaitsecs=15,  # as supervisord.conf: answers in flight, saving rotated cookies
    )
