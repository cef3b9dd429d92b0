"""Render ``run/supervisord.conf`` from the suite manifest.

A pure function of the manifest, so tests compare text and nobody hand-edits
a second copy of settings that live in ``config.yaml``. Every value is escaped
for supervisord's ``%(name)s`` expansion and quoted for its shlex splitting.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping

from suite.programs import HEALTHCHECK, Manifest, Program

__all__ = ["render"]


def _esc(value: object) -> str:
    """supervisord expands ``%(here)s`` in values: a literal ``%`` must be doubled."""
    text = str(value)
    if "\n" in text:
        raise ValueError(f"a newline cannot appear in supervisord.conf: {text!r}")
    return text.replace("%", "%%")


def _command(argv: Iterable[str]) -> str:
    return _esc(shlex.join(argv))


def _environment(env: Mapping[str, str]) -> str:
    for key, value in env.items():
        if '"' in value or "\\" in value:
            raise ValueError(f"environment {key}: quotes and backslashes are not supported")
    return ",".join(f'{k}="{_esc(v)}"' for k, v in env.items())


def _section(title: str, items: Iterable[tuple[str, object]]) -> str:
    lines = [f"[{title}]"]
    lines += [f"{key} = {value}" for key, value in items]
    return "\n".join(lines)


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


def _program(m: Manifest, p: Program) -> str:
    items: list[tuple[str, object]] = [("command", _command(p.command))]
    if p.numprocs > 1:
        items += [
            ("process_name", "%(program_name)s_%(process_num)02d"),
            ("numprocs", p.numprocs),
            ("stdout_logfile", _esc(m.paths.log_dir) + "/%(program_name)s_%(process_num)02d.log"),
        ]
    else:
        items.append(("stdout_logfile", _esc(m.paths.log_dir / f"{p.name}.log")))
    items += [
        ("stdout_logfile_maxbytes", m.max_bytes),
        ("stdout_logfile_backups", m.backups),
        ("redirect_stderr", "true"),
        ("directory", _esc(m.paths.root)),
        ("environment", _environment(p.environment)),
        ("autostart", _bool(p.autostart)),
        ("autorestart", "true"),
        ("startsecs", p.startsecs),
        ("startretries", p.startretries),
        ("stopsignal", "TERM"),
        ("stopwaitsecs", p.stopwaitsecs),
        ("stopasgroup", "true"),
        ("killasgroup", "true"),
        ("priority", p.priority),
    ]
    return _section(f"program:{p.name}", items)


def _healthcheck(m: Manifest) -> str:
    """The issue-7 listener: probes every RUNNING program, restarts the failing ones."""
    lst = m.listener
    argv = [
        m.python,
        "-m",
        "suite.healthcheck",
        "--socket",
        str(m.paths.socket),
        "--state",
        str(m.paths.health_state),
        "--interval",
        f"{lst.interval_seconds:g}",
        "--failures",
        str(lst.failures_before_restart),
        "--timeout",
        f"{lst.timeout_seconds:g}",
        "--kill-after",
        f"{lst.kill_after_seconds:g}",
    ]
    for p in m.programs:
        if p.health_url:
            argv += ["--target", f"{p.name}={p.health_url}"]
    items: list[tuple[str, object]] = [
        ("command", _command(argv)),
        ("events", "PROCESS_STATE"),
        ("buffer_size", 100),
        ("directory", _esc(m.paths.root)),
        ("environment", _environment({"PYTHONUNBUFFERED": "1"})),
        ("autostart", "true"),
        ("autorestart", "true"),
        ("startsecs", 1),
        ("stopwaitsecs", 15),
        # stdout is the event-listener protocol; the listener logs to stderr.
        ("stdout_logfile", "NONE"),
        ("stderr_logfile", _esc(m.paths.log_dir / f"{HEALTHCHECK}.log")),
        ("stderr_logfile_maxbytes", m.max_bytes),
        ("stderr_logfile_backups", m.backups),
        ("priority", -1),
    ]
    return _section(f"eventlistener:{HEALTHCHECK}", items)


def render(m: Manifest) -> str:
    """The complete supervisord.conf text for this manifest."""
    paths = m.paths
    header = (
        f"; Rendered by `python -m suite.supervise render` from {_esc(m.config)}.\n"
        "; Do not edit: change config.yaml, then ./scripts/stop.sh && ./scripts/start.sh.\n"
        "; Socket, pid file and this file live in a private run dir (mode 0700)."
    )
    core = [
        _section(
            "unix_http_server",
            [("file", _esc(paths.socket)), ("chmod", "0700")],
        ),
        _section(
            "supervisord",
            [
                ("logfile", _esc(paths.supervisord_log)),
                ("logfile_maxbytes", m.max_bytes),
                ("logfile_backups", m.backups),
                ("loglevel", "info"),
                ("pidfile", _esc(paths.pidfile)),
                ("childlogdir", _esc(paths.run_dir)),
                ("directory", _esc(paths.root)),
                ("identifier", "cli-proxy-api"),
                *([("user", m.user)] if m.user else []),
                ("nodaemon", "false"),
                ("umask", "022"),
            ],
        ),
        _section(
            "rpcinterface:supervisor",
            [("supervisor.rpcinterface_factory", "supervisor.rpcinterface:make_main_rpcinterface")],
        ),
        _section("supervisorctl", [("serverurl", "unix://" + _esc(paths.socket))]),
    ]
    programs = [_program(m, p) for p in m.programs]
    services_note = (
        "; Services of the suite. The router always runs; `aistudio` and `webai`\n"
        "; are rendered by suite/programs.py with autostart = their provider's `enabled`."
    )
    listener_note = (
        "; Health checks: probes each RUNNING program's health URL every\n"
        "; health.interval_seconds; after health.failures_before_restart failures in a\n"
        "; row it restarts that program over XML-RPC (see suite/healthcheck.py)."
    )
    parts = [header, *core, services_note, *programs, listener_note, _healthcheck(m)]
    return "\n\n".join(parts) + "\n"
