"""The operations scripts against a real supervisord, in a temp dir, on a free port.

One suite is started for the module (start takes about half a second, stop
less); the tests then look at it from the outside the way an operator would,
and the last one stops it and checks, by pid, that nothing is left. A
finalizer stops it whatever happens, so a failing test leaks no process.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from suite.config import load_config
from suite.programs import build_manifest
from suite.supervise import start as start_suite

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
TEST_MODEL = "suite-test-model"


_config: list[pytest.Config] = []


def report(text: str) -> None:
    """Timings an operator cares about, shown even when pytest captures output."""
    for config in _config:
        capture = config.pluginmanager.get_plugin("capturemanager")
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if capture is not None and terminal is not None:
            with capture.global_and_fixture_disabled():
                terminal.write_line(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(base: Path, port: int) -> Path:
    """A copy of the project's config.yaml with its own port, dirs and a fake provider."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text())
    data["server"].update(host="127.0.0.1", port=port, shutdown_grace_seconds=5)
    data["providers"]["suite-test"] = {
        "kind": "openai-compatible",
        "base_url": "http://127.0.0.1:9",  # never called: listing models needs no upstream
        "api_keys": ["sk-suite-test-000000"],
        "models": [TEST_MODEL],
    }
    data["models"]["routing"].insert(0, {"pattern": "^suite-test-", "providers": ["suite-test"]})
    data["logging"] = {
        "dir": str(base / "logs"),
        "level": "info",
        "max_bytes": 16384,
        "backups": 2,
    }
    data["health"] = {"interval_seconds": 1, "failures_before_restart": 2, "timeout_seconds": 1}
    data["auth"] = {"dir": str(base / "auth"), "store": "file"}
    data["usage"] = {"path": str(base / "usage.sqlite3"), "retention_days": 1}
    path = base / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class Suite:
    base: Path
    port: int
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    def run(self, script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPTS / script), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
        )

    def status(self) -> dict[str, Any]:
        result = self.run("status.sh", "--json", timeout=20)
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def router(self) -> dict[str, Any]:
        procs: list[dict[str, Any]] = [
            p for p in self.status()["processes"] if p["program"] == "router"
        ]
        assert len(procs) == 1, procs
        return procs[0]

    def supervisord_pid(self) -> int | None:
        try:
            return int((self.run_dir / "supervisord.pid").read_text())
        except (OSError, ValueError):
            return None


def make_suite(base: Path) -> Suite:
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = write_config(base, port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_")}
    env.update(CLIPROXY_CONFIG=str(config), CLIPROXY_RUN_DIR=str(base / "run"))
    return Suite(base=base, port=port, env=env)


def gone(pid: int) -> bool:
    """Exited (a zombie waiting for init to reap it counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def get(url: str, path: str) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def force_cleanup(suite: Suite) -> None:
    """Last resort for the finalizer: stop.sh, then kill whatever is still there."""
    pid = suite.supervisord_pid()
    try:
        suite.run("stop.sh", timeout=60)
    except subprocess.TimeoutExpired:
        pass
    if pid is not None and not gone(pid):
        try:
            proc = psutil.Process(pid)
            for p in [*proc.children(recursive=True), proc]:
                p.kill()
        except psutil.Error:
            pass


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
    conf = (run_dir / "supervisord.conf").read_text()
    assert f'CLIPROXY_CONFIG="{started.suite.base / "config.yaml"}"' in conf
    assert str(started.suite.base / "logs" / "router.log") in conf


def test_status_reports_router_running_and_healthy(started: Started) -> None:
    suite = started.suite
    assert wait_for(lambda: suite.router()["state"] == "RUNNING", 10)
    r = suite.run("status.sh")
    assert r.returncode == 0, r.stdout + r.stderr
    row = next(line for line in r.stdout.splitlines() if line.startswith("router "))
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
    assert state["processes"]["router:router"]["health_restarts"] >= 1


def test_logs_rotate_at_max_bytes_keeping_backups(started: Started) -> None:
    logs = started.suite.base / "logs"
    for _ in range(400):  # one access line (~170 bytes) each: several rotations of 16 KiB
        get(started.suite.url, "/v1/models")
    assert wait_for(lambda: (logs / "router.log.2").exists(), 5), sorted(
        (p.name, p.stat().st_size) for p in logs.iterdir()
    )
    files = sorted(p.name for p in logs.glob("router.log*"))
    assert files == ["router.log", "router.log.1", "router.log.2"]
    assert all(p.stat().st_size <= 16384 + 4096 for p in logs.glob("router.log*"))


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
    manifest = build_manifest(config, run_dir=suite.run_dir, log_dir=tmp_path / "logs")
    crash = (sys.executable, "-c", "import sys; print('boom: cannot start'); sys.exit(3)")
    router = replace(manifest.programs[0], command=crash)
    manifest = replace(manifest, programs=(router,))
    try:
        assert start_suite(config, manifest, timeout=20) == 1
    finally:
        force_cleanup(suite)
    err = capsys.readouterr().err
    assert "boom: cannot start" in err  # the program's own last log lines
    assert "router" in err
    assert suite.supervisord_pid() is None  # what was started is stopped again
