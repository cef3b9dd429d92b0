"""The checked-in supervisord.conf, read by supervisord's own parser with run/env applied."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from supervisor.options import ServerOptions

from ops.programs import CONF, Manifest, build_manifest
from ops.supervise import prepare
from ops.supervisor_env import MULTIPROC, applied, env_text, environment, parse_env
from suite.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def manifest_for(
    tmp_path: Path, server: dict[str, Any] | None = None, providers: dict[str, Any] | None = None,
    **kw: Any,
) -> Manifest:  # fmt: skip
    config = parse_config(
        {
            "server": {"port": 18555, **(server or {})},
            "logging": {"max_bytes": 12345, "backups": 3},
            "health": {"interval_seconds": 7, "failures_before_restart": 4},
            "providers": providers or {},
        },
        environ={},
        source=tmp_path / "config.yaml",
    )
    kw.setdefault("run_dir", tmp_path / "run")
    kw.setdefault("log_dir", tmp_path / "logs")
    return build_manifest(config, python="/opt/venv/bin/python", **kw)


@pytest.fixture
def clean_environ() -> Iterator[None]:
    """ServerOptions reads os.environ for %(ENV_x)s: give it exactly run/env's values."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def parsed(manifest: Manifest) -> ServerOptions:
    """What supervisord itself makes of supervisord.conf after `source run/env`."""
    prepare(manifest)
    text = manifest.paths.env.read_text()
    assert manifest.paths.run_dir.stat().st_mode & 0o777 == 0o700
    assert manifest.paths.env.stat().st_mode & 0o777 == 0o600
    env = applied({"PATH": os.environ.get("PATH", "")}, text)
    os.environ.clear()
    os.environ.update(env)
    opts = ServerOptions()
    opts.configfile = str(CONF)
    opts.process_config(do_usage=False)
    assert opts.parse_warnings == [] and opts.parse_criticals == []
    return opts


def groups(opts: ServerOptions) -> dict[str, Any]:
    return {g.name: g for g in opts.process_group_configs}


def test_the_conf_is_the_top_level_file() -> None:
    assert CONF == ROOT / "supervisord.conf" and CONF.is_file()


def test_every_expansion_in_the_conf_is_exported_and_only_those(tmp_path: Path) -> None:
    lines = [x for x in CONF.read_text().splitlines() if not x.lstrip().startswith(";")]
    names = set(re.findall(r"%\(ENV_(\w+)\)s", "\n".join(lines)))
    exported = set(environment(manifest_for(tmp_path)))
    assert names == exported


@pytest.mark.usefixtures("clean_environ")
def test_router_program(tmp_path: Path) -> None:
    m = manifest_for(tmp_path, server={"shutdown_grace_seconds": 42.5})
    opts = parsed(m)
    router = groups(opts)["router"]
    (proc,) = router.process_configs
    assert proc.name == "router_00"  # numbered even with one worker: one naming rule
    assert m.programs[0].process_names == ("router_00",)
    assert proc.command == '"/opt/venv/bin/python" -m router'
    # run/env's values reach every program (supervisord's environment), plus its own.
    assert proc.environment["CLIPROXY_CONFIG"] == str(tmp_path / "config.yaml")
    assert proc.environment["CLIPROXY_RUN_DIR"] == str(tmp_path / "run")
    assert proc.environment["PYTHONUNBUFFERED"] == "1"
    assert MULTIPROC not in proc.environment  # one worker: prometheus-client's single mode
    assert proc.stdout_logfile == str(tmp_path / "logs" / "router_00.log")
    assert [p.name for p in m.log_names()["router"]] == ["router_00.log"]
    assert (proc.stdout_logfile_maxbytes, proc.stdout_logfile_backups) == (12345, 3)
    assert proc.redirect_stderr and proc.stopasgroup and proc.killasgroup
    assert proc.stopwaitsecs == 48 == m.programs[0].stopwaitsecs  # grace + 5
    assert proc.startsecs == 1 and proc.autostart
    assert proc.autorestart is not False
    assert proc.directory == str(ROOT)


@pytest.mark.usefixtures("clean_environ")
def test_workers_become_numprocs_with_one_log_each(tmp_path: Path) -> None:
    m = manifest_for(tmp_path, server={"workers": 3})
    procs = groups(parsed(m))["router"].process_configs
    assert [p.name for p in procs] == ["router_00", "router_01", "router_02"]
    assert m.programs[0].process_names == ("router_00", "router_01", "router_02")
    assert [p.name for p in m.log_names()["router"]] == [Path(p.stdout_logfile).name for p in procs]
    # Several workers share their metrics through prometheus-client's multiprocess files:
    # run/env exports the dir, and supervisord hands its environment to every program.
    assert os.environ[MULTIPROC] == str(tmp_path / "run" / "prometheus")


@pytest.mark.usefixtures("clean_environ")
def test_services_follow_their_providers(tmp_path: Path) -> None:
    none = groups(parsed(manifest_for(tmp_path / "a")))
    for name in ("aistudio", "webai"):
        (proc,) = none[name].process_configs
        assert proc.name == name and proc.autostart is False  # no provider: stays stopped
    m = manifest_for(
        tmp_path / "b",
        providers={
            "studio": {"kind": "aistudio", "health": {"port": 18407}},
            "web": {"kind": "webai", "enabled": False, "url": "http://127.0.0.1:18406"},
        },
    )
    found = groups(parsed(m))
    (studio,) = found["aistudio"].process_configs
    assert studio.command == '"/opt/venv/bin/python" -m aistudio --provider "studio"'
    assert studio.autostart is True
    assert studio.stdout_logfile == str(tmp_path / "b" / "logs" / "aistudio.log")
    (web,) = found["webai"].process_configs
    assert web.command.endswith('-m webai --provider "web"') and web.autostart is False
    for proc in (studio, web):  # the conf's stop waits are the ones stop.sh allows for
        assert proc.stopwaitsecs == m.program(proc.name).stopwaitsecs  # type: ignore[union-attr]
    (listener,) = found["healthcheck"].process_configs
    assert '--target "aistudio=http://127.0.0.1:18407/healthz"' in listener.command
    assert '--target "webai=http://127.0.0.1:18406/healthz"' in listener.command


@pytest.mark.usefixtures("clean_environ")
def test_socket_pidfile_user_and_logs_live_in_the_project_dirs(tmp_path: Path) -> None:
    m = manifest_for(tmp_path)
    section = parsed(m).configroot.supervisord
    assert section.pidfile == str(tmp_path / "run" / "supervisord.pid")
    assert section.logfile == str(tmp_path / "logs" / "supervisord.log")
    assert section.user == m.user and m.user
    (server,) = section.server_configs
    assert server["file"] == str(tmp_path / "run" / "supervisor.sock")
    assert server["chmod"] == 0o700
    assert "/etc" not in CONF.read_text()


@pytest.mark.usefixtures("clean_environ")
def test_healthcheck_listener(tmp_path: Path) -> None:
    m = manifest_for(tmp_path)
    listener = groups(parsed(m))["healthcheck"]
    (proc,) = listener.process_configs
    assert "-m ops.healthcheck" in proc.command
    assert "--interval 7\n--failures 4" in proc.command
    assert '--target "router=http://127.0.0.1:18555/healthz"' in proc.command
    assert '--target "webai="' in proc.command  # no health URL: never probed
    assert proc.stderr_logfile == str(tmp_path / "logs" / "healthcheck.log")
    assert not proc.redirect_stderr


@pytest.mark.usefixtures("clean_environ")
def test_spaces_in_paths_survive(tmp_path: Path) -> None:
    odd = tmp_path / "my logs"
    m = build_manifest(
        parse_config({}, environ={}, source=tmp_path / "my config.yaml"),
        run_dir=tmp_path / "run",
        log_dir=odd,
        python=str(tmp_path / "my venv" / "python"),
    )
    opts = parsed(m)
    (proc,) = groups(opts)["router"].process_configs
    assert proc.stdout_logfile == str(odd / "router_00.log")
    assert proc.environment["CLIPROXY_CONFIG"] == str(tmp_path / "my config.yaml")
    assert shlex.split(proc.command)[0] == str(tmp_path / "my venv" / "python")


@pytest.mark.parametrize("bad", ["100%", 'a"b', "a\\b"])
def test_characters_supervisord_cannot_take_are_a_clear_error(tmp_path: Path, bad: str) -> None:
    # supervisord expands log file names twice and shlex-splits commands: no escaping.
    with pytest.raises(ValueError, match="log dir .*supervisord cannot handle"):
        manifest_for(tmp_path, log_dir=tmp_path / bad)


def test_wildcard_host_is_probed_on_loopback(tmp_path: Path) -> None:
    m = manifest_for(tmp_path, server={"host": "0.0.0.0", "api_keys": ["k" * 20]})
    assert m.programs[0].health_url == "http://127.0.0.1:18555/healthz"


def test_socket_path_too_long_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CLIPROXY_RUN_DIR"):
        manifest_for(tmp_path, run_dir=tmp_path / ("x" * 120))


def test_manifest_round_trips_through_json(tmp_path: Path) -> None:
    m = manifest_for(tmp_path, server={"workers": 2})
    again = Manifest.from_json(json.loads(json.dumps(m.to_json())))
    assert again == m
    assert env_text(again) == env_text(m)


def test_env_file_is_what_a_shell_gets_from_sourcing_it(tmp_path: Path) -> None:
    """run/env is sourced by sh (systemd, by hand): the shell must see the same values."""
    m = manifest_for(tmp_path / "with space", server={"workers": 2})
    text = env_text(m)
    path = tmp_path / "env"
    path.write_text(text)
    shown = subprocess.run(
        ["sh", "-c", f". '{path}' && env"],
        env={"PATH": os.environ.get("PATH", ""), MULTIPROC: "stale"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    got = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    for key, value in environment(m).items():
        assert got[key] == value
    one = env_text(manifest_for(tmp_path / "one"))
    assert parse_env(one)[MULTIPROC] is None  # one worker: a stale value is removed
    assert MULTIPROC not in applied({MULTIPROC: "stale"}, one)


def test_env_subcommand_writes_run_env_and_the_manifest(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server:\n  port: 18556\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_")}
    env.update(CLIPROXY_CONFIG=str(config), CLIPROXY_RUN_DIR=str(tmp_path / "run"))
    r = subprocess.run(
        [sys.executable, "-m", "ops.supervise", "env"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "run" / "env")
    values = parse_env((tmp_path / "run" / "env").read_text())
    assert values["CLIPROXY_ROUTER_HEALTH_URL"] == "http://127.0.0.1:18556/healthz"
    assert json.loads((tmp_path / "run" / "suite.json").read_text())["programs"][0]["name"] == (
        "router"
    )
