"""The operations scripts against a real supervisord, in a temp dir, on a free port.

One suite is started for the module (start takes about half a second, stop
less); the tests then look at it from the outside the way an operator would,
and the last one stops it and checks, by pid, that nothing is left. A
finalizer stops it whatever happens, so a failing test leaks no process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from ops.programs import build_manifest
from ops.supervise import start as start_suite
from ops.supervisor_env import parse_env
from suite.config import load_config
from tests.ops.conftest import (
    ROOT,
    TEST_MODEL,
    Suite,
    force_cleanup,
    get,
    gone,
    make_suite,
    wait_for,
)

_config: list[pytest.Config] = []


def report(text: str) -> None:
    """Timings an operator cares about, shown even when pytest captures output."""
    for config in _config:
        capture = config.pluginmanager.get_plugin("capturemanager")
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if capture is not None and terminal is not None:
            with capture.global_and_fixture_disabled():
                terminal.write_line(text)


@dataclass
class Started:
    suite: Suite
    result: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="module")
def started(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Started]:
    _config[:] = [pytestconfig]
    suite = make_suite(tmp_path_factory.mktemp("suite"))
    began = time.perf_counter()
    result = suite.run("start.sh")
    seconds = time.perf_counter() - began
    first = result.stdout.splitlines()[:1]
    report(f"\n[suite] start.sh -> healthy in {seconds:.2f} s (wall, incl. config check): {first}")
    try:
        yield Started(suite, result, seconds)
    finally:
        force_cleanup(suite)


def test_start_prints_the_endpoint(started: Started) -> None:
    r = started.result
    assert r.returncode == 0, r.stderr
    assert f"http://127.0.0.1:{started.suite.port}" in r.stdout
    assert "healthy after" in r.stdout
    assert started.seconds < 30


def test_run_dir_is_private(started: Started) -> None:
    run_dir = started.suite.run_dir
    assert run_dir.stat().st_mode & 0o777 == 0o700
    assert (run_dir / "supervisor.sock").exists()
    env = run_dir / "env"
    assert env.stat().st_mode & 0o777 == 0o600
    values = parse_env(env.read_text())
    assert values["CLIPROXY_CONFIG"] == str(started.suite.base / "config.yaml")
    assert values["CLIPROXY_LOG_DIR"] == str(started.suite.base / "logs")
    assert (started.suite.base / "logs" / "router_00.log").exists()
    # The running supervisord reads the project's supervisord.conf, nothing rendered.
    daemon = psutil.Process(started.suite.supervisord_pid())
    assert daemon.cmdline()[-2:] == ["-c", str(ROOT / "supervisord.conf")]
    assert not (run_dir / "supervisord.conf").exists()


def test_status_reports_router_running_and_healthy(started: Started) -> None:
    suite = started.suite
    assert wait_for(lambda: suite.router()["state"] == "RUNNING", 10)
    r = suite.run("status.sh")
    assert r.returncode == 0, r.stdout + r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("router:router_00 "))
    assert "RUNNING" in row and " ok " in row
    assert "healthy" in r.stdout.splitlines()[-1]


def test_status_json(started: Started) -> None:
    data = started.suite.status()
    assert data["running"] and data["healthy"]
    assert data["endpoint"] == started.suite.url
    router = started.suite.router()
    assert router["state"] == "RUNNING"
    assert router["health"] == "ok" and router["healthy"] is True
    assert isinstance(router["pid"], int) and router["rss_bytes"] > 0
    assert router["latency_ms"] is not None
    # aistudio / webai run too when config.yaml enables them (optional services).
    programs = {p["program"] for p in data["processes"]}
    assert {"router", "healthcheck"} <= programs <= {"router", "healthcheck", "aistudio", "webai"}


def test_requests_are_served(started: Started) -> None:
    status, body = get(started.suite.url, "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, body = get(started.suite.url, "/v1/models")
    assert status == 200
    assert TEST_MODEL in [m["id"] for m in json.loads(body)["data"]]


def test_start_again_is_idempotent(started: Started) -> None:
    suite = started.suite
    pid = suite.supervisord_pid()
    r = suite.run("start.sh")
    assert r.returncode == 0, r.stderr
    assert "already running" in r.stdout
    assert suite.url in r.stdout
    assert suite.supervisord_pid() == pid


def test_logs_script(started: Started) -> None:
    r = started.suite.run("logs.sh", "router", "-n", "5")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert 0 < len(lines) <= 5
    assert all(json.loads(line)["service"] == "router" for line in lines)
    r = started.suite.run("logs.sh", "nonexistent")
    assert r.returncode != 0 and "router" in r.stderr


def test_kill_9_router_comes_back(started: Started) -> None:
    suite = started.suite
    old = suite.router()["pid"]
    os.kill(old, signal.SIGKILL)
    began = time.monotonic()

    def back() -> bool:
        r = suite.router()
        return r["pid"] not in (None, old) and r["healthy"]

    assert wait_for(back, 5), suite.status()
    report(f"\n[suite] kill -9 router -> healthy again in {time.monotonic() - began:.2f} s")
    assert wait_for(lambda: (suite.router()["restarts"] or 0) >= 1, 5)


def test_sigstopped_router_is_restarted_by_healthcheck(started: Started) -> None:
    suite = started.suite
    assert wait_for(lambda: suite.router()["state"] == "RUNNING", 10)
    old = suite.router()["pid"]
    os.kill(old, signal.SIGSTOP)
    try:

        def back() -> bool:
            r = suite.router()
            return r["pid"] not in (None, old) and r["state"] == "RUNNING" and r["healthy"]

        # 2 failures x 1 s interval, the restart, 1 s startsecs: well inside 20 s.
        assert wait_for(back, 20, step=0.25), suite.status()
    finally:
        if not gone(old):
            os.kill(old, signal.SIGCONT)
    log = (suite.base / "logs" / "healthcheck.log").read_text()
    assert "restarting unhealthy process" in log
    assert "SIGSTOP" in log
    state = json.loads((suite.run_dir / "healthcheck.json").read_text())
    assert state["processes"]["router:router_00"]["health_restarts"] >= 1


def test_logs_rotate_at_max_bytes_keeping_backups(started: Started) -> None:
    logs = started.suite.base / "logs"
    sent = 0
    # One access line (~170 bytes) a request; lines reach the file in 100 ms batches,
    # so keep sending (bounded: 3,000 requests, 30 s) until a second rotation shows.
    deadline = time.monotonic() + 30
    while not (logs / "router_00.log.2").exists() and sent < 3000 and time.monotonic() < deadline:
        for _ in range(50):
            get(started.suite.url, "/v1/models")
        sent += 50
        wait_for(lambda: (logs / "router_00.log.2").exists(), 0.3)
    assert (logs / "router_00.log.2").exists(), sorted(
        (p.name, p.stat().st_size) for p in logs.iterdir()
    )
    for _ in range(250):  # ~42 KiB more: at least two more rotations, past `backups`
        get(started.suite.url, "/v1/models")
    sent += 250
    # The router writes its lines in 100 ms batches: wait for the very last one.
    get(started.suite.url, "/v1/models/last-request-marker")
    sent += 1
    assert wait_for(
        lambda: any("last-request-marker" in p.read_text() for p in logs.glob("router_00.log*")), 5
    )
    files = sorted(p.name for p in logs.glob("router_00.log*"))
    assert files == ["router_00.log", "router_00.log.1", "router_00.log.2"]
    # supervisord rotates before a write that would pass max_bytes; one write is one
    # pipe read (at most 128 KiB), and the router batches its access lines (one write
    # per 100 ms), so a file may pass max_bytes by one batch, never by more.
    assert all(p.stat().st_size <= 16384 + 131072 for p in logs.glob("router_00.log*"))
    kept = sum(p.read_text().count('"event":"request"') for p in logs.glob("router_00.log*"))
    assert kept < sent  # the oldest lines went with the files past `backups`


def test_stop_leaves_nothing(started: Started) -> None:
    suite = started.suite
    pid = suite.supervisord_pid()
    assert pid is not None
    children = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    router_pid = suite.router()["pid"]
    assert router_pid in children
    r = suite.run("stop.sh")
    assert r.returncode == 0, r.stderr
    assert "stopped" in r.stdout
    assert gone(pid), "supervisord is still running"
    assert [c for c in children if not gone(c)] == [], "a child of supervisord survived"
    assert not (suite.run_dir / "supervisord.pid").exists()
    assert suite.run("status.sh").returncode == 3
    assert "not running" in suite.run("stop.sh").stdout
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", suite.port))


# --- failures --------------------------------------------------------------------


def test_broken_config_is_refused_with_its_line(tmp_path: Path) -> None:
    suite = make_suite(tmp_path)
    (tmp_path / "config.yaml").write_text("server:\n  port: not-a-port\n")
    r = suite.run("start.sh")
    assert r.returncode != 0
    assert "config: server.port: expected a whole number, got 'not-a-port'" in r.stderr
    assert "Traceback" not in r.stderr
    assert suite.supervisord_pid() is None


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    suite = make_suite(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", suite.port))
        s.listen()
        r = suite.run("start.sh")
    assert r.returncode != 0
    assert f"127.0.0.1:{suite.port}" in r.stderr
    assert suite.supervisord_pid() is None


def test_a_crashing_program_fails_start_with_its_log_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = make_suite(tmp_path)
    config = load_config(suite.env["CLIPROXY_CONFIG"])
    # An interpreter with which `-m router` dies at once (the listener still runs).
    python = tmp_path / "python"
    python.write_text(
        "#!/bin/sh\n"
        'if [ "$2" = router ]; then echo "boom: cannot start"; exit 3; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    manifest = build_manifest(
        config, run_dir=suite.run_dir, log_dir=tmp_path / "logs", python=str(python)
    )
    try:
        assert start_suite(config, manifest, timeout=20) == 1
    finally:
        force_cleanup(suite)
    err = capsys.readouterr().err
    assert "boom: cannot start" in err  # the program's own last log lines
    assert "router" in err
    assert suite.supervisord_pid() is None  # what was started is stopped again
