"""``source run/env && supervisord -c supervisord.conf`` by hand runs the suite start.sh runs.

One suite on private ports and run/log dirs: started by ``start.sh``, described,
stopped; then started by hand from the checked-in ``supervisord.conf`` after
``python -m ops.supervise env`` and ``source run/env`` (the README's steps),
described again, and compared: the same programs and processes in the same
states, each healthy, ``status.sh`` and ``supervisorctl -c supervisord.conf``
reading it. ``stop.sh`` stops both; a finalizer makes sure nothing is left.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.ops.conftest import ROOT, Suite, force_cleanup, gone, make_suite, wait_for


@pytest.fixture
def suite(tmp_path: Path) -> Iterator[Suite]:
    s = make_suite(tmp_path)
    try:
        yield s
    finally:
        force_cleanup(s)


def _shell(suite: Suite, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` in bash, from the project root, after ``source run/env``."""
    return subprocess.run(
        ["bash", "-c", f"source '{suite.run_dir}/env' && {command}"],
        env=suite.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _healthy_status(suite: Suite, timeout: float = 60) -> dict[str, Any]:
    """The first ``status.sh --json`` that says every program is healthy (a loaded machine
    may fail a 1 s health probe now and then: the two runs are compared when settled)."""
    seen: list[dict[str, Any]] = []

    def healthy() -> bool:
        seen[:] = [suite.status()]
        return bool(seen[0]["running"] and seen[0]["healthy"])

    assert wait_for(healthy, timeout, step=0.2), seen
    return seen[0]


def _described(suite: Suite) -> dict[str, Any]:
    """What status.sh and supervisorctl say, without what differs between two runs (pids)."""
    status = _healthy_status(suite)
    rows = sorted(
        (p["program"], p["name"], p["state"], p["health"], p["healthy"])
        for p in status["processes"]
    )
    ctl = _shell(suite, ".venv/bin/supervisorctl -c supervisord.conf status")
    assert ctl.stdout, ctl.stderr
    states = sorted(tuple(line.split()[:2]) for line in ctl.stdout.splitlines())
    daemon = psutil.Process(suite.supervisord_pid())
    return {
        "rows": rows,
        "supervisorctl": states,
        "endpoint": status["endpoint"],
        # supervisord runs from the project root (its `directory`): resolve -c from there.
        "conf": (Path(daemon.cwd()) / daemon.cmdline()[-1]).resolve(),
        "cwd": daemon.cwd(),
        "router_env": {
            k: v
            for k, v in psutil.Process(suite.router()["pid"]).environ().items()
            if k.startswith(("CLIPROXY_", "PROMETHEUS_"))
        },
    }


def test_supervisord_by_hand_runs_the_suite_start_sh_runs(suite: Suite) -> None:
    started = suite.run("start.sh")
    assert started.returncode == 0, started.stdout + started.stderr
    first = _described(suite)
    daemon = suite.supervisord_pid()
    assert daemon is not None
    assert suite.run("stop.sh").returncode == 0 and gone(daemon)

    # By hand: write run/env from config.yaml, source it, run supervisord on the file.
    env = subprocess.run(
        [sys.executable, "-m", "ops.supervise", "env"],
        env=suite.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env.returncode == 0, env.stderr
    assert env.stdout.strip() == str(suite.run_dir / "env")
    launched = _shell(suite, ".venv/bin/supervisord -c supervisord.conf")
    assert launched.returncode == 0, launched.stdout + launched.stderr
    second = _described(suite)

    assert second == first
    assert first["conf"] == ROOT / "supervisord.conf" and first["cwd"] == str(ROOT)
    names = {row[1] for row in first["rows"]}
    assert {"router_00", "healthcheck"} <= names
    assert ("router:router_00", "RUNNING") in first["supervisorctl"]
    assert first["router_env"]["CLIPROXY_RUN_DIR"] == str(suite.run_dir)

    # While it runs, `env` keeps the running suite's files and says why.
    again = subprocess.run(
        [sys.executable, "-m", "ops.supervise", "env"],
        env=suite.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "stop it first" in again.stderr

    daemon = suite.supervisord_pid()
    assert daemon is not None
    children = [p.pid for p in psutil.Process(daemon).children(recursive=True)]
    stopped = suite.run("stop.sh")
    assert stopped.returncode == 0, stopped.stderr
    assert gone(daemon) and all(gone(pid) for pid in children)
