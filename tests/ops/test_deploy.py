"""deploy/: the systemd unit, the Dockerfile, the compose file and the container's entry point.

No Docker engine runs here, so the images are never built. What can be checked is:

* the compose file with a compose binary's ``config`` when one works without an
  engine (``docker compose`` v2 or Debian's ``docker-compose`` v1), and always
  by parsing it: services, ports, volumes, profiles, the keys it passes;
* the Dockerfile by parsing it: base image, stages, that every file it COPYs
  exists and is not ignored, a non-root user, volumes, HEALTHCHECK;
* the entry point for real, without Docker: it writes the container's run/env,
  runs supervisord in the foreground on supervisord.conf (with Xvfb when there
  is one), answers the HEALTHCHECK, and exits on SIGTERM leaving nothing;
* the systemd unit with ``systemd-analyze verify`` where it exists (paths
  pointed at this checkout), and always by its required keys.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from ops.programs import build_manifest
from ops.supervisor_env import parse_env
from suite.config import load_config
from tests.ops.conftest import ROOT, Suite, force_cleanup, gone, make_suite, wait_for

DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
UNIT = DEPLOY / "cli-proxy-api.service"
ENTRYPOINT = DEPLOY / "entrypoint.py"
APP = "/opt/cli-proxy-api"  # where the image and the unit put the project


# --- Dockerfile --------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage name (``FROM x AS name``)."""
    result: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for word, rest in dockerfile():
        if word == "FROM":
            name = rest.split()[-1] if " as " in rest.lower() else rest
            current = result.setdefault(name, [])
        current.append((word, rest))
    return result


def ignored() -> list[str]:
    path = DEPLOY / "Dockerfile.dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerfile_base_stages_and_user() -> None:
    instructions = dockerfile()
    args = {
        r.split("=", 1)[0]: r.split("=", 1)[1] for w, r in instructions if w == "ARG" and "=" in r
    }
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    by_stage = stages()
    assert list(by_stage) == ["base", "aistudio", "webai", "router"]  # router last: the default
    assert by_stage["base"][0] == ("FROM", "${PYTHON_IMAGE} AS base")
    for name in ("aistudio", "webai", "router"):
        assert by_stage[name][0] == ("FROM", f"base AS {name}")
        users = [r for w, r in by_stage[name] if w == "USER"]
        assert users and users[-1] == "cliproxy", f"{name} must end as the non-root user"
        env = " ".join(r for w, r in by_stage[name] if w == "ENV")
        assert f"CLIPROXY_PROGRAMS={name}" in env
    base = by_stage["base"]
    assert [r for w, r in base if w == "USER"] == ["cliproxy"]
    assert any(w == "RUN" and "useradd --system" in r and "cliproxy" in r for w, r in base)
    aistudio_run = " ".join(r for w, r in by_stage["aistudio"] if w == "RUN")
    assert "apt-get install" in aistudio_run
    assert {"chromium", "xvfb"} <= set(aistudio_run.split())
    assert "CLIPROXY_XVFB=:99" in " ".join(r for w, r in by_stage["aistudio"] if w == "ENV")
    assert "'.[webai]'" in " ".join(r for w, r in by_stage["webai"] if w == "RUN")


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored() -> None:
    skip = ignored()
    copies = [r for w, r in dockerfile() if w in ("COPY", "ADD")]
    assert copies
    for args in copies:
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        for src in parts[:-1]:
            assert (ROOT / src).exists(), f"COPY {src}: no such file in the build context"
            top = src.split("/")[0]
            assert top not in skip and src not in skip, f"COPY {src} is excluded by .dockerignore"
    for needed in (".venv", ".env", "run", "logs", ".git"):
        assert needed in skip, f"{needed} must stay out of the build context"
    copied = " ".join(copies)
    for package in ("router", "suite", "ops", "aistudio", "webai", "scripts", "pyproject.toml"):
        assert package in copied
    for file in ("supervisord.conf", "config.yaml"):
        assert file in copied


def test_dockerfile_runs_supervisord_in_the_foreground_with_healthcheck_and_volumes() -> None:
    base = dict(reversed(stages()["base"]))  # first occurrence of each instruction wins
    entry = yaml.safe_load(base["ENTRYPOINT"])
    assert entry == [f"{APP}/.venv/bin/python", f"{APP}/deploy/entrypoint.py"]
    assert yaml.safe_load(base["CMD"]) == ["run"]
    health = base["HEALTHCHECK"]
    assert "--interval=30s" in health
    assert yaml.safe_load(health.split("CMD", 1)[1]) == [*entry, "health"]
    volumes = yaml.safe_load(base["VOLUME"])
    assert volumes == ["/var/lib/cli-proxy-api", f"{APP}/logs"]
    env = " ".join(r for w, r in stages()["base"] if w == "ENV")
    assert "HOME=/var/lib/cli-proxy-api" in env  # auth.dir ~/.cli-proxy-api is in the volume
    assert base["WORKDIR"] == APP
    assert base["STOPSIGNAL"] == "SIGTERM"


# --- docker-compose.yml ------------------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def config_vars() -> set[str]:
    """Every ``${VAR}`` that config.yaml reads: compose must pass each one through."""
    values = json.dumps(yaml.safe_load((ROOT / "config.yaml").read_text()))  # no comments
    return set(re.findall(r"\$\{([A-Z0-9_]+)", values))


def test_compose_services_profiles_and_network() -> None:
    data = compose()
    services = data["services"]
    assert set(services) == {"router", "aistudio", "webai"}
    assert "profiles" not in services["router"] and "profiles" not in services["aistudio"]
    assert services["webai"]["profiles"] == ["webai"]
    targets = {n for n in stages() if n != "base"}
    for name, svc in services.items():
        build = svc["build"]
        assert (DEPLOY / build["context"]).resolve() == ROOT
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE
        assert build["target"] == name and name in targets
        assert svc["init"] is True and svc["restart"] == "unless-stopped"
    for name in ("aistudio", "webai"):  # config.yaml's loopback addresses hold unchanged
        assert services[name]["network_mode"] == "service:router"
        assert "ports" not in services[name]
        assert "router" in services[name]["depends_on"]
    assert services["aistudio"]["shm_size"]


def _target(mount: str) -> str:
    """The container path of a short-syntax mount (the source may hold ``${X:-y}``)."""
    body = mount.removesuffix(":ro").removesuffix(":rw")
    return body.rsplit(":", 1)[1]


def test_compose_ports_volumes_and_keys() -> None:
    data = compose()
    services = data["services"]
    port = yaml.safe_load((ROOT / "config.yaml").read_text())["server"]["port"]
    (mapping,) = services["router"]["ports"]
    assert mapping.endswith(f":{port}")
    assert mapping.startswith("${CLIPROXY_BIND:-127.0.0.1}:")  # loopback unless asked
    declared = set(data["volumes"])
    logs = set()
    for name, svc in services.items():
        mounts = {_target(m): m for m in svc["volumes"]}
        assert mounts["/var/lib/cli-proxy-api"].startswith("auth:"), name  # one auth dir
        log_volume = mounts[f"{APP}/logs"].split(":")[0]
        assert log_volume in declared
        logs.add(log_volume)
        config_mount = mounts["/etc/cli-proxy-api"]
        assert config_mount.endswith(":ro")
        env = svc["environment"]
        assert env["CLIPROXY_CONFIG"] == "/etc/cli-proxy-api/config.yaml"
        missing = config_vars() - set(env)
        assert not missing, f"{name}: config.yaml reads {sorted(missing)}; pass them through"
        for key, value in env.items():
            if key != "CLIPROXY_CONFIG":
                assert value == f"${{{key}:-}}", f"{name}: {key} must come from the environment"
    assert len(logs) == 3, "each container rotates its own log files: one log volume each"
    assert "auth" in declared
    grace = int(str(services["router"]["stop_grace_period"]).rstrip("s"))
    assert grace >= 60 + 5  # server.shutdown_grace_seconds (default 60) + supervisord's 5


def _compose_command() -> list[str] | None:
    """A compose binary that works without an engine, or None."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cmd in candidates:
        try:
            probe = subprocess.run([*cmd, "version"], capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return cmd
    return None


def test_compose_config_with_a_compose_binary(tmp_path: Path) -> None:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("no docker compose / docker-compose binary: checked by parsing only")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIPROXY_", "COMPOSE_"))}
    env["CLIPROXY_CONFIG_DIR"] = str(tmp_path)
    r = subprocess.run(
        [*cmd, "-f", str(COMPOSE), "--profile", "webai", "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    rendered = yaml.safe_load(r.stdout)
    assert set(rendered["services"]) == {"router", "aistudio", "webai"}
    assert rendered["services"]["webai"]["profiles"] == ["webai"]
    assert {"auth", "router-logs", "aistudio-logs", "webai-logs"} <= set(rendered["volumes"])
    router_build = rendered["services"]["router"]["build"]
    assert Path(router_build["context"]).resolve() == ROOT
    volumes = rendered["services"]["router"]["volumes"]
    text = yaml.safe_dump(volumes)
    assert str(tmp_path) in text and "/etc/cli-proxy-api" in text


# --- the entry point, without Docker --------------------------------------------------


def entrypoint(suite: Suite, *args: str, programs: str, **env: str) -> subprocess.Popen[str]:
    """``entrypoint.py ARGS``; ``run`` writes to ``entrypoint.out`` (supervisord -n logs there)."""
    out: Any = subprocess.PIPE
    if args[0] == "run":
        out = open(suite.base / "entrypoint.out", "w")  # noqa: SIM115 - closed below
    try:
        return subprocess.Popen(
            [sys.executable, str(ENTRYPOINT), *args],
            env={**suite.env, "CLIPROXY_PROGRAMS": programs, **env},
            stdout=out,
            stderr=subprocess.STDOUT if args[0] == "run" else subprocess.PIPE,
            text=True,
            cwd=suite.base,
        )
    finally:
        if out is not subprocess.PIPE:
            out.close()


def test_entrypoint_starts_only_this_containers_programs(tmp_path: Path) -> None:
    suite = make_suite(tmp_path)
    every = build_manifest(load_config(suite.config), run_dir=suite.run_dir).programs
    assert [p.name for p in every] == ["router", "aistudio", "webai"]
    enabled = {p.name for p in every if p.autostart}
    for programs, expected in (
        ("router", {"router"}),
        ("aistudio", {"aistudio"} & enabled),
        ("", enabled),  # empty: all of them, as start.sh
    ):
        proc = entrypoint(suite, "env", programs=programs)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        env = Path(out.strip())
        assert env == suite.run_dir / "env"
        values = parse_env(env.read_text())
        started = {n for n in ("router", "aistudio", "webai") if values[_autostart(n)] == "true"}
        assert started == expected, values
    proc = entrypoint(suite, "env", programs="router,nosuch")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "no program nosuch" in err and "Traceback" not in err
    proc = entrypoint(suite, "env", programs="router", CLIPROXY_CONFIG=str(tmp_path / "none"))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "not found" in err


def _autostart(program: str) -> str:
    return f"CLIPROXY_{program.upper()}_AUTOSTART"


def _free_display() -> int:
    for num in range(150, 250):
        if not Path(f"/tmp/.X{num}-lock").exists() and not Path(f"/tmp/.X11-unix/X{num}").exists():
            return num
    raise AssertionError("no free X display number")


@pytest.fixture
def container(tmp_path: Path) -> Iterator[tuple[Suite, subprocess.Popen[str], int | None]]:
    """``entrypoint.py run`` as a container would run it: router only, Xvfb when present."""
    suite = make_suite(tmp_path)
    display = _free_display() if shutil.which("Xvfb") else None
    extra = {"CLIPROXY_XVFB": f":{display}"} if display is not None else {}
    proc = entrypoint(suite, "run", programs="router", **extra)
    try:
        yield suite, proc, display
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        force_cleanup(suite)


def _health(suite: Suite) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ENTRYPOINT), "health"],
        env=suite.env,
        capture_output=True,
        text=True,
        timeout=20,
        cwd=suite.base,
    )


def test_entrypoint_runs_supervisord_in_the_foreground_and_stops_on_sigterm(
    container: tuple[Suite, subprocess.Popen[str], int | None],
) -> None:
    suite, proc, display = container
    assert wait_for(lambda: _health(suite).returncode == 0 or proc.poll() is not None, 30)
    assert proc.poll() is None, (suite.base / "entrypoint.out").read_text()
    health = _health(suite)
    assert health.returncode == 0 and health.stdout.startswith("router http://127.0.0.1:")
    # The entry point became supervisord (exec): Docker's SIGTERM reaches it directly.
    me = psutil.Process(proc.pid)
    assert "supervisor.supervisord" in me.cmdline() and "-n" in me.cmdline()
    status = suite.status()
    assert status["healthy"]
    running = {p["program"] for p in status["processes"] if p["state"] == "RUNNING"}
    assert running == {"router", "healthcheck"}
    # supervisord.conf has every program; this container's others stay stopped.
    assert {p["program"]: p["health"] for p in status["processes"] if p["state"] == "STOPPED"} == {
        "aistudio": "disabled",
        "webai": "disabled",
    }
    assert me.cmdline()[-2:] == ["-c", str(ROOT / "supervisord.conf")]
    router = suite.router()
    children = [c.pid for c in me.children(recursive=True)]
    assert router["pid"] in children
    xvfb = [c for c in me.children() if c.name() == "Xvfb"]
    if display is not None:
        assert len(xvfb) == 1, children
        assert psutil.Process(router["pid"]).environ().get("DISPLAY") == f":{display}"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    left = [pid for pid in [*children, *(x.pid for x in xvfb)] if not gone(pid)]
    assert wait_for(lambda: all(gone(pid) for pid in left), 5), left
    assert _health(suite).returncode == 1


# --- systemd unit ------------------------------------------------------------------


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_unit_has_the_required_keys() -> None:
    u = unit()
    svc = u["Service"]
    assert svc["Type"] == "simple"
    assert svc["User"] == "cliproxy" and svc["Group"] == "cliproxy"
    assert svc["Restart"] == "on-failure"
    assert svc["NoNewPrivileges"] == "true"
    assert svc["ProtectSystem"] == "strict"
    writable = svc["ReadWritePaths"].split()
    assert {f"{APP}/logs", f"{APP}/run"} <= set(writable)
    assert svc["StateDirectory"] == "cli-proxy-api"  # the auth dir's home, writable
    assert svc["WorkingDirectory"] == APP
    start = shlex.split(svc["ExecStart"])
    # supervisord in the foreground on the project's supervisord.conf, after sourcing the
    # run/env that `ops.supervise env` writes: the by-hand steps of the README.
    assert start[:2] == ["/bin/sh", "-c"]
    assert start[2] == (
        f". {APP}/run/env && exec {APP}/.venv/bin/supervisord -n -c {APP}/supervisord.conf"
    )
    assert u["Install"]["WantedBy"] == "multi-user.target"
    pre = UNIT.read_text()
    assert "ExecStartPre=/opt/cli-proxy-api/.venv/bin/python -m ops.supervise env" in pre
    assert int(svc["TimeoutStopSec"]) >= 60 + 5  # streams drain before systemd kills


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """The unit with its paths pointed at this checkout (whose .venv has both binaries)."""
    assert (ROOT / ".venv/bin/supervisord").exists()
    path = tmp_path / "cli-proxy-api.service"
    path.write_text(UNIT.read_text().replace(APP, str(ROOT)))
    r = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    ours = [line for line in (r.stdout + r.stderr).splitlines() if "cli-proxy-api" in line]
    assert r.returncode == 0 and not ours, r.stdout + r.stderr
