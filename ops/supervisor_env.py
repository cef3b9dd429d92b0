"""The values ``supervisord.conf`` expands, computed from the manifest.

The checked-in ``supervisord.conf`` holds no setting of its own that lives in
``config.yaml``: each such value is a ``%(ENV_NAME)s`` expansion. This module
says what those names are worth for a manifest, and writes them to ``run/env``
as ``export NAME=value`` lines (quoted for a POSIX shell), so that
``source run/env && supervisord -c supervisord.conf`` and ``start.sh`` run the
same suite. A pure function of the manifest; ``parse_env`` reads the file back.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from ops.programs import Manifest, Program

__all__ = ["MULTIPROC", "applied", "env_text", "environment", "parse_env"]

# prometheus-client switches to multiprocess mode when this name is merely
# present (even empty): with one worker it must be absent, hence ``unset``.
MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _number(value: float) -> str:
    return f"{value:g}"


def _program(m: Manifest, name: str) -> Program:
    """The manifest's program, or a stopped stand-in (a custom manifest may omit it)."""
    return m.program(name) or Program(name=name, autostart=False)


def environment(m: Manifest) -> dict[str, str]:
    """``NAME -> value`` for every ``%(ENV_NAME)s`` of ``supervisord.conf``.

    ``PROMETHEUS_MULTIPROC_DIR`` is included only with several router workers.
    """
    router, aistudio, webai = (_program(m, n) for n in ("router", "aistudio", "webai"))
    env = {
        "CLIPROXY_CONFIG": str(m.config),
        "CLIPROXY_PYTHON": m.python,
        "CLIPROXY_RUN_DIR": str(m.paths.run_dir),
        "CLIPROXY_LOG_DIR": str(m.paths.log_dir),
        "CLIPROXY_LOG_MAX_BYTES": str(m.max_bytes),
        "CLIPROXY_LOG_BACKUPS": str(m.backups),
        "CLIPROXY_USER": m.user,
        "CLIPROXY_ROUTER_WORKERS": str(router.numprocs),
        "CLIPROXY_ROUTER_AUTOSTART": _flag(router.autostart),
        "CLIPROXY_ROUTER_STOPWAITSECS": str(router.stopwaitsecs),
        "CLIPROXY_ROUTER_HEALTH_URL": router.health_url or "",
        "CLIPROXY_AISTUDIO_PROVIDER": aistudio.provider or "",
        "CLIPROXY_AISTUDIO_AUTOSTART": _flag(aistudio.autostart),
        "CLIPROXY_AISTUDIO_HEALTH_URL": aistudio.health_url or "",
        "CLIPROXY_WEBAI_PROVIDER": webai.provider or "",
        "CLIPROXY_WEBAI_AUTOSTART": _flag(webai.autostart),
        "CLIPROXY_WEBAI_HEALTH_URL": webai.health_url or "",
        "CLIPROXY_HEALTH_INTERVAL": _number(m.listener.interval_seconds),
        "CLIPROXY_HEALTH_FAILURES": str(m.listener.failures_before_restart),
        "CLIPROXY_HEALTH_TIMEOUT": _number(m.listener.timeout_seconds),
    }
    if router.numprocs > 1:
        env[MULTIPROC] = str(m.paths.metrics_dir)
    for key, value in env.items():
        if "\n" in value or '"' in value or "%" in value:
            raise ValueError(f"{key}={value!r}: supervisord.conf cannot expand this value")
    return env


def env_text(m: Manifest) -> str:
    """The ``run/env`` file: a header, then one ``export NAME=value`` line per name."""
    env = environment(m)
    lines = [
        f"# Written by `python -m ops.supervise env` from {m.config}.",
        "# The values supervisord.conf expands: source it, then run supervisord on it.",
        "# Do not edit: change config.yaml and write it again (scripts/start.sh does).",
        *(f"export {key}={shlex.quote(value)}" for key, value in env.items()),
    ]
    if MULTIPROC not in env:
        lines.append(f"unset {MULTIPROC}")
    return "\n".join(lines) + "\n"


def parse_env(text: str) -> dict[str, str | None]:
    """``run/env`` read back: ``NAME -> value``, or ``None`` for an ``unset NAME`` line."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            out[key] = value
        elif len(words) == 2 and words[0] == "unset":
            out[words[1]] = None
        elif words:
            raise ValueError(f"run/env: not an export or unset line: {line!r}")
    return out


def applied(base: Mapping[str, str], text: str) -> dict[str, str]:
    """``base`` (a process environment) as it is after sourcing ``text``."""
    env = dict(base)
    for key, value in parse_env(text).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
