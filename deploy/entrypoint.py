"""The container's entry point (``deploy/Dockerfile``): supervisord in the foreground.

    entrypoint.py [run]   check config.yaml, write run/env exactly as scripts/start.sh
                          does (ops.supervise.prepare), start Xvfb when asked, then
                          exec ``supervisord -n -c supervisord.conf`` with run/env applied
    entrypoint.py env     write run/env and run/suite.json, print run/env's path, exit
    entrypoint.py health  Docker's HEALTHCHECK: GET each health URL (``/healthz``)
                          of the programs this container runs; exit 0 healthy, 1 not
    entrypoint.py CMD...  anything else is exec'd as is (``./scripts/status.sh``)

Environment, besides the scripts' ``CLIPROXY_CONFIG``, ``CLIPROXY_RUN_DIR`` and
``CLIPROXY_LOG_DIR``:

* ``CLIPROXY_PROGRAMS``: comma-separated programs this container runs
  (``router``, ``aistudio``, ``webai``); empty: all of them, as start.sh. The
  others get ``autostart = false``; the ``healthcheck`` listener always runs. A
  program that is not started (not named, or not enabled in config.yaml) stays
  stopped and ``status.sh`` shows it as ``disabled``.
* ``CLIPROXY_XVFB``: an X display such as ``:99``; Xvfb is started on it and
  ``DISPLAY`` exported to the programs (a headful browser, a login).

Plain Python on purpose: it runs the suite's own code, so a container and
``start.sh`` cannot drift apart, and the tests run it without Docker.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ops.probe import probe  # noqa: E402
from ops.programs import Manifest  # noqa: E402
from ops.rpc import supervisord_pid  # noqa: E402
from ops.supervise import manifest_from_config, prepare, saved_manifest  # noqa: E402
from ops.supervisor_env import applied  # noqa: E402
from suite.config import ConfigError, Environment, process_environment  # noqa: E402

EXIT_CONFIG = 2
_XVFB_WAIT_SECONDS = 10.0


def _err(msg: str) -> None:
    print(f"entrypoint: {msg}", file=sys.stderr, flush=True)


def selected(manifest: Manifest, wanted: str) -> Manifest:
    """Start only the programs named in ``wanted`` (comma-separated; empty: all).

    supervisord.conf always has every program; the others do not autostart.
    """
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    if not names:
        return manifest
    known = [p.name for p in manifest.programs]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"CLIPROXY_PROGRAMS: no program {', '.join(unknown)} in this config; "
            f"one of: {', '.join(known)}"
        )
    for p in manifest.programs:
        if p.name in names and not p.autostart:
            _err(f"{p.name} is not enabled in config.yaml: it stays stopped (status: disabled)")
    programs = tuple(
        p if p.name in names else replace(p, autostart=False) for p in manifest.programs
    )
    return replace(manifest, programs=programs)


def prepared() -> Manifest:
    """Load config.yaml, pick this container's programs, write the run dir's files."""
    try:
        _, manifest = manifest_from_config(None, None)
        manifest = selected(manifest, Environment.read().programs)
    except (ConfigError, ValueError) as exc:
        _err(str(exc))
        raise SystemExit(EXIT_CONFIG) from None
    pid = supervisord_pid(manifest.paths.pidfile)
    if pid is not None:
        _err(f"supervisord already runs from {manifest.paths.run_dir} (pid {pid})")
        raise SystemExit(1)
    # Left by a container that was killed: nothing listens on them any more.
    manifest.paths.pidfile.unlink(missing_ok=True)
    manifest.paths.socket.unlink(missing_ok=True)
    prepare(manifest)
    return manifest


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """In the child: SIGTERM when the process that started it (supervisord, after exec) ends."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_xvfb(display: str, log_dir: Path) -> subprocess.Popen[bytes]:
    """Xvfb on ``display``; returns once its socket exists. Clears a dead server's lock.

    It outlives the exec into supervisord as that process's child and is sent
    SIGTERM when supervisord exits (it is not a supervisord program: those come
    from config.yaml, one source of truth).
    """
    num = display.lstrip(":").split(".")[0]
    if not num.isdigit():
        raise ValueError(f"CLIPROXY_XVFB: expected a display like :99, got {display!r}")
    lock, sock = Path(f"/tmp/.X{num}-lock"), Path(f"/tmp/.X11-unix/X{num}")
    try:
        holder = int(lock.read_text().strip())
    except (OSError, ValueError):
        holder = 0
    if not holder or not _pid_alive(holder):
        lock.unlink(missing_ok=True)
        sock.unlink(missing_ok=True)
    log = open(log_dir / "xvfb.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        ["Xvfb", f":{num}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        stdout=log,
        stderr=log,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - single-threaded here
    )
    deadline = time.monotonic() + _XVFB_WAIT_SECONDS
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise OSError(f"Xvfb did not start on :{num} (see {log_dir / 'xvfb.log'})")
        time.sleep(0.05)
    return proc


def run() -> None:
    manifest = prepared()
    display = Environment.read().xvfb
    env = process_environment()
    if display:
        try:
            start_xvfb(display, manifest.paths.log_dir)
        except (OSError, ValueError) as exc:
            _err(str(exc))
            raise SystemExit(1) from None
        env["DISPLAY"] = display  # supervisord's programs inherit it
    names = ", ".join(p.name for p in manifest.programs if p.autostart)
    _err(f"supervisord -n with {names or 'no program'} and the healthcheck listener")
    conf = str(manifest.paths.conf)
    argv = [manifest.python, "-m", "supervisor.supervisord", "-n", "-c", conf]
    os.execve(manifest.python, argv, applied(env, manifest.paths.env.read_text()))


def health() -> int:
    manifest = saved_manifest(None)
    if manifest is None:
        print("not started: no run/suite.json")
        return 1
    bad = []
    for p in manifest.programs:
        if not (p.autostart and p.health_url):
            continue
        result = probe(p.health_url, max(manifest.listener.timeout_seconds, 1.0))
        print(f"{p.name} {p.health_url}: {result.summary()} {result.detail}".rstrip())
        if not result.ok:
            bad.append(p.name)
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    if command == "run":
        run()
        return 1  # not reached: run() execs supervisord
    if command == "env":
        print(prepared().paths.env)
        return 0
    if command == "health":
        return health()
    os.execvp(argv[0], argv)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
