"""``python -m ops.supervise``: the logic behind ``scripts/{start,stop,status,logs}.sh``.

The shell scripts stay thin; the decisions (is it running, is it healthy, what
is left over after a stop) live here, typed and testable. Subcommands:

* ``env``     write ``run/env`` (what ``supervisord.conf`` expands) and ``run/suite.json``
              from config.yaml
* ``start``   the same, then supervisord on ``supervisord.conf`` as a daemon; waits until
              every program is healthy
* ``stop``    graceful shutdown; waits until supervisord and every child are gone
* ``status``  table (or ``--json``); exit 0 healthy, 1 unhealthy, 3 not running
* ``logfiles NAME``  the log files of one program (for ``logs.sh``)

Every wait is bounded by a deadline and polls at a fixed short interval.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from ops.probe import probe
from ops.programs import HEALTHCHECK, Manifest, build_manifest, loopback_url, resolve_run_dir
from ops.rpc import RPC_ERRORS, Supervisor, supervisord_pid
from ops.status import collect, format_table
from ops.supervisor_env import applied, env_text
from suite.config import Config, ConfigError, load_config, process_environment
from suite.files import write_private
from suite.management_key import ensure_key

__all__ = ["WaitResult", "main", "prepare", "start", "stop", "wait_healthy"]

_POLL = 0.05
_UP = frozenset({"RUNNING", "STARTING"})
_FAILED = frozenset({"FATAL", "BACKOFF", "EXITED"})
EXIT_NOT_RUNNING = 3


def _say(msg: str) -> None:
    print(msg, flush=True)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- manifest and files ------------------------------------------------------


def manifest_from_config(run_dir: str | None, log_dir: str | None) -> tuple[Config, Manifest]:
    """Build from config.yaml; raises ConfigError or ValueError with a readable line."""
    config = load_config()
    return config, build_manifest(config, run_dir=run_dir, log_dir=log_dir)


def saved_manifest(run_dir: str | None) -> Manifest | None:
    """The manifest of the suite last started from this run dir, if any."""
    path = resolve_run_dir(run_dir) / "suite.json"
    try:
        return Manifest.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prepare(manifest: Manifest) -> None:
    """Make the run dir (0700) and log dir ready for a new supervisord; write run/env
    (0600) and suite.json. Only while no supervisord runs from that run dir."""
    paths = manifest.paths
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    paths.run_dir.chmod(0o700)
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    paths.health_state.unlink(missing_ok=True)  # counts belong to one supervisord's life
    _fresh_dir(paths.metrics_dir)  # metrics of an earlier supervisord's workers are stale
    write_private(paths.env, env_text(manifest))
    write_private(paths.manifest, json.dumps(manifest.to_json(), indent=2) + "\n")


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)


@contextmanager
def _start_lock(manifest: Manifest) -> Iterator[bool]:
    """Two ``start.sh`` at once must not race to launch two supervisords."""
    manifest.paths.run_dir.mkdir(parents=True, exist_ok=True)
    manifest.paths.run_dir.chmod(0o700)
    with open(manifest.paths.lock, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _port_free(host: str, port: int) -> str:
    """Empty when ``host:port`` can be bound; else why not (checked before supervisord)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return ""


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a file (reads at most 256 KiB from its end)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 262144))
            data = fh.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


# --- start -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaitResult:
    ok: bool
    culprits: tuple[str, ...] = ()
    why: str = ""


def wait_healthy(manifest: Manifest, timeout: float) -> WaitResult:
    """Poll until every autostarted process is up and every health URL answers.

    Stops early when a program is FATAL, BACKOFF or EXITED: a crash at start
    does not get better by waiting.
    """
    deadline = time.monotonic() + timeout
    sv = Supervisor(manifest.paths.socket, timeout=2.0)
    expected = {p.name for p in manifest.programs if p.autostart} | {HEALTHCHECK}
    culprits = tuple(sorted(expected))
    why = "supervisord did not answer"
    while time.monotonic() < deadline:
        try:
            infos = sv.processes()
        except RPC_ERRORS:
            time.sleep(_POLL)
            continue
        mine = [i for i in infos if i["group"] in expected]
        failed = sorted({i["group"] for i in mine if i["statename"] in _FAILED})
        if failed:
            return WaitResult(False, tuple(failed), "exited during start")
        culprits = tuple(sorted({i["group"] for i in mine if i["statename"] not in _UP}))
        why = "not running"
        if not culprits:
            culprits = _unhealthy(manifest, min(1.0, max(0.05, deadline - time.monotonic())))
            why = "health URL does not answer"
            if not culprits:
                return WaitResult(True)
        time.sleep(_POLL)
    return WaitResult(False, culprits, f"{why} after {timeout:g} s")


def _unhealthy(manifest: Manifest, timeout: float) -> tuple[str, ...]:
    return tuple(
        p.name
        for p in manifest.programs
        if p.autostart and p.health_url and not probe(p.health_url, timeout).ok
    )


def _failure_report(manifest: Manifest, culprits: Sequence[str], lines: int = 20) -> list[str]:
    """Why it failed: each culprit's supervisord state and the last lines of its log."""
    logs = manifest.log_names()
    out: list[str] = []
    try:
        infos = Supervisor(manifest.paths.socket, 2.0).processes()
    except RPC_ERRORS:
        infos = []
    for info in infos:
        if info["group"] in culprits:
            why = info["spawnerr"] or info["description"]
            out.append(f"{info['group']}:{info['name']} is {info['statename']}: {why}")
    for name in [*culprits, "supervisord"]:
        for path in logs.get(name, ()):
            text = tail(path, lines)
            if text:
                out.append(f"--- last {len(text)} lines of {path}")
                out.extend(text)
    return out


def _endpoints(manifest: Manifest) -> list[str]:
    return [f"{p.name}: {p.endpoint}" for p in manifest.programs if p.autostart and p.endpoint]


def _print_endpoints(manifest: Manifest) -> None:
    for line in _endpoints(manifest):
        _say(line)


def _already_running(manifest: Manifest, pid: int, timeout: float) -> int:
    running = saved_manifest(str(manifest.paths.run_dir)) or manifest
    _say(f"cli-proxy-api is already running (supervisord pid {pid}); not starting a second copy")
    if running.paths.env.exists() and env_text(manifest) != running.paths.env.read_text():
        _say("note: config.yaml changed since start; run ./scripts/stop.sh && ./scripts/start.sh")
    result = wait_healthy(running, timeout)
    _print_endpoints(running)
    if not result.ok:
        names = ", ".join(result.culprits)
        _err(f"but not healthy: {names}: {result.why} (see ./scripts/status.sh)")
        return 1
    return 0


def start(config: Config, manifest: Manifest, timeout: float) -> int:
    """Start supervisord as a daemon and wait until the suite is healthy."""
    paths = manifest.paths
    with _start_lock(manifest) as locked:
        if not locked:
            _err(f"another start is in progress (lock {paths.lock}); not starting a second copy")
            return 1
        pid = supervisord_pid(paths.pidfile)
        if pid is not None:
            code = _already_running(manifest, pid, timeout)
            _print_console(config)
            return code
        problem = _port_free(config.server.host, config.server.port)
        if problem:
            _err(f"config: server.port: {problem} (is another copy running elsewhere?)")
            return 1
        paths.pidfile.unlink(missing_ok=True)
        generated = _first_run_key(config)
        prepare(manifest)
        began = time.monotonic()
        # Exactly what `source run/env && supervisord -c supervisord.conf` does.
        launched = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(paths.conf)],
            cwd=paths.root,
            env=applied(process_environment(), paths.env.read_text()),
            capture_output=True,
            text=True,
            timeout=30,
        )
        if launched.returncode != 0:
            _err(f"supervisord did not start (exit {launched.returncode}):")
            _err((launched.stderr or launched.stdout).strip())
            return 1
        result = wait_healthy(manifest, timeout)
        elapsed = time.monotonic() - began
        if not result.ok:
            report = _failure_report(manifest, result.culprits)
            # Stop before printing: a closed stderr must not leave the suite half-started.
            stop(manifest.paths.run_dir, manifest.stop_timeout, quiet=True)
            _err(f"cli-proxy-api did not start: {', '.join(result.culprits)} {result.why}")
            for line in report:
                _err(line)
            _err("stopped what was started")
            return 1
        pid = supervisord_pid(paths.pidfile)
        _say(f"cli-proxy-api started: healthy after {elapsed:.2f} s (supervisord pid {pid})")
        _print_endpoints(manifest)
        _print_console(config, generated)
        return 0


def _first_run_key(config: Config) -> str:
    """No management.key set: generate one into the auth dir (the router reads it at start).
    Returns where a new key was stored, "" when none was made."""
    try:
        _, origin = ensure_key(config)
    except OSError as exc:
        _err(f"note: could not store a management key in {config.auth.dir}: {exc}")
        return ""
    return str(config.auth.dir) if origin == "generated" else ""


def _print_console(config: Config, generated: str = "") -> None:
    """The console's address and how to get its key (docs/console.md)."""
    url = loopback_url(config.server.host, config.server.port, "/console")
    if generated:
        _say(f"management key generated (first run), stored 0600 in {generated}/management.key")
    _say(f"console: {url}  (key: .venv/bin/python -m router management-key)")


# --- stop --------------------------------------------------------------------


def _gone(proc: psutil.Process) -> bool:
    """Exited, or a zombie waiting for init to reap it (it holds no resources)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: Sequence[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(_POLL)
        alive = [p for p in alive if not _gone(p)]
    return alive


def _signal_all(procs: Sequence[psutil.Process], sig: signal.Signals) -> None:
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            continue


def stop(run_dir: Path, timeout: float, quiet: bool = False) -> int:
    """Graceful shutdown through supervisord; then make sure nothing is left."""
    pidfile = run_dir / "supervisord.pid"
    pid = supervisord_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        if not quiet:
            _say("cli-proxy-api is not running")
        return 0
    began = time.monotonic()
    try:
        daemon = psutil.Process(pid)
        procs = [daemon, *daemon.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    try:
        Supervisor(run_dir / "supervisor.sock", 5.0).shutdown()
    except RPC_ERRORS:
        _signal_all([daemon], signal.SIGTERM)
    if _wait_gone([daemon], timeout):
        _err(f"supervisord (pid {pid}) did not exit within {timeout:g} s; killing it")
        _signal_all([daemon], signal.SIGKILL)
    left = _wait_gone(procs, 5.0)
    if left:
        _err(f"left over after shutdown, terminating: {[p.pid for p in left]}")
        _signal_all(left, signal.SIGTERM)
        left = _wait_gone(left, 5.0)
        _signal_all(left, signal.SIGKILL)
        left = _wait_gone(left, 5.0)
    pidfile.unlink(missing_ok=True)
    if left:
        _err(f"could not stop: {[p.pid for p in left]}")
        return 1
    if not quiet:
        _say(f"cli-proxy-api stopped in {time.monotonic() - began:.2f} s")
    return 0


# --- CLI ---------------------------------------------------------------------


def _load_or_exit(args: argparse.Namespace) -> tuple[Config, Manifest]:
    try:
        return manifest_from_config(args.run_dir, args.log_dir)
    except (ConfigError, ValueError) as exc:
        _err(str(exc))
        raise SystemExit(2) from None


def _status(args: argparse.Namespace) -> int:
    manifest = saved_manifest(args.run_dir) or _load_or_exit(args)[1]
    status = collect(manifest)
    if args.json:
        _say(json.dumps(status.to_json(), indent=2))
    else:
        _say(format_table(status))
    if not status.running:
        return EXIT_NOT_RUNNING
    return 0 if status.healthy else 1


def _env(args: argparse.Namespace) -> int:
    manifest = _load_or_exit(args)[1]
    if args.stdout:
        _say(env_text(manifest).rstrip("\n"))
        return 0
    pid = supervisord_pid(manifest.paths.pidfile)
    if pid is not None:
        # run/env and suite.json describe the running suite: keep them until it stops.
        _err(f"supervisord runs from {manifest.paths.run_dir} (pid {pid}): stop it first")
        return 1
    prepare(manifest)
    _say(str(manifest.paths.env))
    return 0


def _logfiles(args: argparse.Namespace) -> int:
    manifest = saved_manifest(args.run_dir) or _load_or_exit(args)[1]
    logs = manifest.log_names()
    if args.name not in logs:
        _err(f"no program named {args.name!r}; one of: {', '.join(logs)}")
        return 2
    for path in logs[args.name]:
        _say(str(path))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.supervise", description=__doc__)
    parser.add_argument("--run-dir", help="private run dir (default: $CLIPROXY_RUN_DIR or run/)")
    parser.add_argument("--log-dir", help="log dir (default: $CLIPROXY_LOG_DIR or logging.dir)")
    sub = parser.add_subparsers(dest="command", required=True)
    env_p = sub.add_parser("env", help="write run/env (what supervisord.conf expands)")
    env_p.add_argument("--stdout", action="store_true", help="print it instead")
    start_p = sub.add_parser("start", help="start the suite and wait until healthy")
    start_p.add_argument("--timeout", type=float, default=30.0)
    stop_p = sub.add_parser("stop", help="stop the suite")
    stop_p.add_argument("--timeout", type=float, default=None)
    status_p = sub.add_parser("status", help="state and health of every program")
    status_p.add_argument("--json", action="store_true")
    logs_p = sub.add_parser("logfiles", help="log files of one program")
    logs_p.add_argument("name")
    args = parser.parse_args(argv)

    if args.command == "env":
        return _env(args)
    if args.command == "start":
        return start(*_load_or_exit(args), timeout=args.timeout)
    if args.command == "stop":
        saved = saved_manifest(args.run_dir)
        timeout = args.timeout or (saved.stop_timeout if saved else 75.0)
        return stop(resolve_run_dir(args.run_dir), timeout)
    if args.command == "status":
        return _status(args)
    return _logfiles(args)


if __name__ == "__main__":
    sys.exit(main())
