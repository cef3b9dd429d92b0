"""Only suite/config.py reads the environment: what the programs use is one typed object
(``Environment``, ``Config.env``), and ruff refuses ``os.environ`` anywhere else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from suite.config import Environment, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_environment_read_names_what_the_programs_use() -> None:
    env = Environment.read(
        {
            "CLIPROXY_RUN_DIR": " /srv/run ",
            "CLIPROXY_LOG_DIR": "/srv/logs",
            "PROMETHEUS_MULTIPROC_DIR": "/srv/run/prometheus",
            "WAYLAND_DISPLAY": "wayland-0",
            "CLIPROXY_PROGRAMS": "router",
            "CLIPROXY_XVFB": ":99",
            "CI": "false",
        }
    )
    assert env == Environment(
        run_dir="/srv/run",
        log_dir="/srv/logs",
        prometheus_dir="/srv/run/prometheus",
        display="wayland-0",
        programs="router",
        xvfb=":99",
        ci=False,
    )
    assert Environment.read({"DISPLAY": ":1", "WAYLAND_DISPLAY": "w", "CI": "1"}).display == ":1"
    assert Environment.read({"CI": "true"}).ci and not Environment.read({}).ci


def test_the_config_carries_the_environment_it_was_read_with() -> None:
    cfg = parse_config({}, environ={"CLIPROXY_RUN_DIR": "/srv/run"})
    assert cfg.env.run_dir == "/srv/run"
    assert parse_config({}, environ={}).env == Environment()


def _ruff(path: str, source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--select",
            "TID251",
            "--stdin-filename",
            path,
            "-",
        ],
        input=source,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("path", ["router/x.py", "suite/x.py", "aistudio/x.py", "deploy/x.py"])
def test_ruff_refuses_os_environ_outside_the_config_module(path: str) -> None:
    found = _ruff(path, 'import os\n\nprint(os.environ.get("X"))\n')
    assert found.returncode == 1 and "only suite/config.py reads" in found.stdout, found.stdout


def test_ruff_lets_the_config_module_read_the_environment() -> None:
    found = _ruff("suite/config.py", 'import os\n\nprint(os.environ.get("X"))\n')
    assert found.returncode == 0, found.stdout
