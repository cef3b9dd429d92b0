"""The rendered supervisord.conf, read back by supervisord's own config parser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from supervisor.options import ServerOptions

from suite.config import parse_config
from suite.programs import Manifest, build_manifest
from suite.supervise import prepare
from suite.supervisor_conf import render


def manifest_for(tmp_path: Path, server: dict[str, Any] | None = None, **kw: Any) -> Manifest:
    config = parse_config(
        {
            "server": {"port": 18555, **(server or {})},
            "logging": {"max_bytes": 12345, "backups": 3},
            "health": {"interval_seconds": 7, "failures_before_restart": 4},
        },
        environ={},
        source=tmp_path / "config.yaml",
    )
    kw.setdefault("run_dir", tmp_path / "run")
    kw.setdefault("log_dir", tmp_path / "logs")
    return build_manifest(config, python="/opt/venv/bin/python", **kw)


def parsed(manifest: Manifest) -> ServerOptions:
    """What supervisord itself makes of the text (expansion, quoting, numprocs)."""
    prepare(manifest)
    assert manifest.paths.conf.read_text() == render(manifest)
    assert manifest.paths.run_dir.stat().st_mode & 0o777 == 0o700
    assert manifest.paths.conf.stat().st_mode & 0o777 == 0o600
    opts = ServerOptions()
    opts.configfile = str(manifest.paths.conf)
    opts.process_config(do_usage=False)
    return opts


def groups(opts: ServerOptions) -> dict[str, Any]:
    return {g.name: g for g in opts.process_group_configs}


def test_router_program(tmp_path: Path) -> None:
    m = manifest_for(tmp_path, server={"shutdown_grace_seconds": 42.5})
    router = groups(parsed(m))["router"]
    (proc,) = router.process_configs
    assert proc.name == "router"
    assert proc.command == "/opt/venv/bin/python -m router"
    assert proc.environment == {
        "CLIPROXY_CONFIG": str(tmp_path / "config.yaml"),
        "PYTHONUNBUFFERED": "1",
        "CLIPROXY_RUN_DIR": str(tmp_path / "run"),  # /status finds supervisord through it
    }
    assert proc.stdout_logfile == str(tmp_path / "logs" / "router.log")
    assert (proc.stdout_logfile_maxbytes, proc.stdout_logfile_backups) == (12345, 3)
    assert proc.redirect_stderr and proc.stopasgroup and proc.killasgroup
    assert proc.stopwaitsecs >= 42.5
    assert proc.startsecs == 1 and proc.autostart
    assert proc.autorestart is not False


def test_workers_become_numprocs_with_one_log_each(tmp_path: Path) -> None:
    m = manifest_for(tmp_path, server={"workers": 3})
    procs = groups(parsed(m))["router"].process_configs
    assert [p.name for p in procs] == ["router_00", "router_01", "router_02"]
    assert [Path(p.stdout_logfile).name for p in procs] == [
        "router_00.log",
        "router_01.log",
        "router_02.log",
    ]
    assert m.programs[0].process_names == ("router_00", "router_01", "router_02")
    assert [p.name for p in m.log_names()["router"]] == [Path(p.stdout_logfile).name for p in procs]
    # Several workers share their metrics through prometheus-client's multiprocess files.
    assert {p.environment["PROMETHEUS_MULTIPROC_DIR"] for p in procs} == {
        str(tmp_path / "run" / "prometheus")
    }


def test_socket_pidfile_and_logs_live_in_the_project_dirs(tmp_path: Path) -> None:
    m = manifest_for(tmp_path)
    section = parsed(m).configroot.supervisord
    assert section.pidfile == str(tmp_path / "run" / "supervisord.pid")
    assert section.logfile == str(tmp_path / "logs" / "supervisord.log")
    (server,) = section.server_configs
    assert server["file"] == str(tmp_path / "run" / "supervisor.sock")
    assert server["chmod"] == 0o700
    assert "/etc" not in render(m)


def test_healthcheck_listener(tmp_path: Path) -> None:
    m = manifest_for(tmp_path)
    listener = groups(parsed(m))["healthcheck"]
    (proc,) = listener.process_configs
    assert "-m suite.healthcheck" in proc.command
    assert "--interval 7 --failures 4" in proc.command
    assert "--target router=http://127.0.0.1:18555/healthz" in proc.command
    assert proc.stderr_logfile == str(tmp_path / "logs" / "healthcheck.log")
    assert not proc.redirect_stderr


def test_spaces_in_paths_survive(tmp_path: Path) -> None:
    odd = tmp_path / "my logs"
    m = manifest_for(tmp_path, log_dir=odd)
    (proc,) = groups(parsed(m))["router"].process_configs
    assert proc.stdout_logfile == str(odd / "router.log")


def test_percent_in_a_path_is_a_clear_error(tmp_path: Path) -> None:
    # supervisord expands log file names twice: a '%' cannot be escaped reliably.
    with pytest.raises(ValueError, match="log dir .*'%'"):
        manifest_for(tmp_path, log_dir=tmp_path / "100%")


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
    assert render(again) == render(m)
