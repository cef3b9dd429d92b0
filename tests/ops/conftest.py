"""Helpers shared by the modules that run a real supervisord in a temp dir.

``make_suite(base)`` writes a copy of the project's ``config.yaml`` with its
own free port, log/run/auth dirs, a 1 s health interval and small log files,
and returns a ``Suite`` whose ``run("start.sh")`` drives the real scripts with
that environment. ``force_cleanup`` is the finalizer every test that starts
one must call: no test may leak a process.
"""

from __future__ import annotations

import configparser
import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from ops.programs import CONF

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
TEST_MODEL = "suite-test-model"

ConfigEdit = Callable[[dict[str, Any]], None]


def custom_conf(path: Path, program: str, targets: dict[str, str]) -> Path:
    """The project's supervisord.conf with its programs replaced by ``program`` (a section's
    text) and the listener probing ``targets``: a suite around a test's own program."""
    parser = configparser.RawConfigParser()
    parser.read_string(CONF.read_text().replace("%(here)s", str(ROOT)))
    for section in parser.sections():
        if section.startswith("program:"):
            parser.remove_section(section)
    listener = "eventlistener:healthcheck"
    command = parser.get(listener, "command").split("--target")[0]
    command += " ".join(f'--target "{name}={url}"' for name, url in targets.items())
    parser.set(listener, "command", command)
    parser.read_string(program)
    with open(path, "w") as fh:
        parser.write(fh)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(base: Path, port: int, edit: ConfigEdit | None = None) -> Path:
    """A copy of the project's config.yaml with its own port, dirs and a fake provider.

    ``edit`` may change the data before it is written (e.g. disable a service).
    """
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
    for provider in data["providers"].values():  # the services' own ports: private too
        if provider.get("kind") == "aistudio":
            provider["health"] = {**(provider.get("health") or {}), "port": free_port()}
    data["auth"] = {"dir": str(base / "auth"), "store": "file"}
    data["usage"] = {"path": str(base / "usage.sqlite3"), "retention_days": 1}
    if edit is not None:
        edit(data)
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

    @property
    def config(self) -> Path:
        return self.base / "config.yaml"

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

    def program(self, name: str) -> dict[str, Any]:
        procs: list[dict[str, Any]] = [
            p for p in self.status()["processes"] if p["program"] == name
        ]
        assert len(procs) == 1, procs
        return procs[0]

    def router(self) -> dict[str, Any]:
        return self.program("router")

    def supervisord_pid(self) -> int | None:
        try:
            return int((self.run_dir / "supervisord.pid").read_text())
        except (OSError, ValueError):
            return None


def make_suite(base: Path, edit: ConfigEdit | None = None) -> Suite:
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = write_config(base, port, edit)
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


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a log file (other lines, e.g. tracebacks, are skipped)."""
    out: list[dict[str, Any]] = []
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


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
