"""Issue 7's "Prove it" bullets that need real supervisord and were only shown elsewhere
at process or unit level:

* a program whose health URL fails while its process lives is restarted by the
  healthcheck listener after N failures in a row, not before;
* SIGHUP with a new routing rule: the next request follows it, a stream in
  flight is not cut, the router is not restarted; a broken config is refused
  and the old one kept;
* SIGTERM (``stop.sh``) during a long stream: the router stops accepting, the
  stream completes, then every process exits.

(kill -9, SIGSTOP, log rotation, ``status.sh --json`` and ``stop.sh`` by pid are
in test_scripts.py.) Each test starts its own suite in a temp dir on free ports
and stops it in a finalizer; each takes a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.programs import Program, build_manifest
from ops.supervise import start as start_suite
from suite.config import load_config
from tests.fakes import FakeAnthropic, Reply
from tests.ops.conftest import (
    ConfigEdit,
    Suite,
    custom_conf,
    force_cleanup,
    free_port,
    gone,
    log_lines,
    make_suite,
    wait_for,
    write_config,
)

# --- a health URL that fails while the process lives -----------------------------------

# Answers /healthz with 200, or 500 once the file "<flag>.<its pid>" exists (so the
# process that replaces it is healthy again). Counts the 500s; says how many on SIGTERM.
FLAKY = """
import os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, flag = int(sys.argv[1]), sys.argv[2]
mine = f"{flag}.{os.getpid()}"
failed = 0
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        global failed
        bad = os.path.exists(mine)
        failed += bad
        if bad:
            print(f"answered 500 (#{failed})", flush=True)
        body = b'{"status": "broken", "detail": "disk full"}' if bad else b'{"status": "ok"}'
        self.send_response(500 if bad else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
def term(*_):
    print(f"SIGTERM after {failed} failed probes", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
print(f"flaky pid {os.getpid()} on {port}", flush=True)
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""

INTERVAL = 0.5
FAILURES = 3


def _fast_health(data: dict[str, Any]) -> None:
    data["health"] = {
        "interval_seconds": INTERVAL,
        "failures_before_restart": FAILURES,
        "timeout_seconds": 1,
    }


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[tuple[Suite, Path]]:
    """A suite whose only program is FLAKY, under real supervisord and its listener."""
    suite = make_suite(tmp_path, _fast_health)
    config = load_config(suite.config)
    manifest = build_manifest(config, run_dir=suite.run_dir, log_dir=tmp_path / "logs")
    port, flag, script = free_port(), tmp_path / "fail", tmp_path / "flaky.py"
    script.write_text(FLAKY)
    health = f"http://127.0.0.1:{port}/healthz"
    section = f"""
[program:flaky]
command = "{sys.executable}" "{script}" {port} "{flag}"
environment = PYTHONUNBUFFERED="1"
autorestart = true
startsecs = 1
stopwaitsecs = 5
stopasgroup = true
stdout_logfile = %(ENV_CLIPROXY_LOG_DIR)s/%(program_name)s.log
redirect_stderr = true
"""
    conf = custom_conf(tmp_path / "supervisord.conf", section, {"flaky": health})
    program = Program(name="flaky", health_url=health, stopwaitsecs=5)
    manifest = replace(manifest, programs=(program,), paths=replace(manifest.paths, conf=conf))
    try:
        assert start_suite(config, manifest, timeout=20) == 0
        yield suite, flag
    finally:
        force_cleanup(suite)


def _ts(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(line["ts"]).replace("Z", "+00:00")).timestamp()


def test_failing_health_url_is_restarted_after_n_failures_not_before(
    flaky: tuple[Suite, Path],
) -> None:
    suite, flag = flaky
    # The listener probes RUNNING processes only (after startsecs).
    assert wait_for(lambda: suite.program("flaky")["state"] == "RUNNING", 10)
    first = suite.program("flaky")
    assert first["state"] == "RUNNING" and first["healthy"], first
    old = first["pid"]
    since = time.time()
    Path(f"{flag}.{old}").touch()  # from now on its health URL answers 500; it stays alive
    assert wait_for(lambda: gone(old), 10 * INTERVAL * FAILURES), "never restarted"

    log = [
        line
        for line in log_lines(suite.base / "logs" / "healthcheck.log")
        if line.get("process") == "flaky:flaky" and _ts(line) >= since
    ]
    events = [(line["event"], line.get("failures")) for line in log]
    restart = events.index(("restarting unhealthy process", None))
    failed = [n for event, n in events[:restart] if event == "health check failed"]
    assert failed == list(range(1, FAILURES + 1)), events  # N in a row, then the restart
    why = log[restart]
    assert why["pid"] == old
    assert why["reason"] == f"{FAILURES} failed health checks in a row: disk full"  # the why
    first_failure = next(line for line in log if line["event"] == "health check failed")
    # The listener waited (N - 1) intervals after the first failure before acting.
    assert _ts(why) - _ts(first_failure) >= (FAILURES - 1) * INTERVAL * 0.8
    # The process itself answered exactly N failing probes, then was stopped gracefully.
    own = (suite.base / "logs" / "flaky.log").read_text()
    assert f"SIGTERM after {FAILURES} failed probes" in own, own

    def back() -> bool:
        row = suite.program("flaky")
        return row["pid"] not in (None, old) and row["healthy"]

    assert wait_for(back, 10, step=0.2), suite.status()
    assert any(
        line["event"] == "process restarted"
        for line in log_lines(suite.base / "logs" / "healthcheck.log")
    )
    state = json.loads((suite.run_dir / "healthcheck.json").read_text())
    assert state["processes"]["flaky:flaky"]["health_restarts"] == 1
    assert wait_for(lambda: (suite.program("flaky")["restarts"] or 0) >= 1, 5)


# --- the router under supervisord: SIGHUP and SIGTERM with a stream in flight ----------

MODEL = "claude-supervised-test"
WORDS = " ".join(f"w{i}" for i in range(20))  # 20 events, 0.15 s apart: a 3 s stream
BODY = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def _routed(one: str, two: str, target: str, pattern: str = "^claude-supervised-") -> ConfigEdit:
    def edit(data: dict[str, Any]) -> None:
        data["providers"]["one"] = {"kind": "anthropic", "base_url": one, "api_keys": ["k1"]}
        data["providers"]["two"] = {"kind": "anthropic", "base_url": two, "api_keys": ["k2"]}
        for name in ("aistudio", "webai"):  # the router alone: no browser, fast
            if name in data["providers"]:
                data["providers"][name]["enabled"] = False
        data["models"]["routing"].insert(0, {"pattern": pattern, "providers": [target]})

    return edit


async def _start(suite: Suite) -> int:
    r = await asyncio.to_thread(suite.run, "start.sh")
    assert r.returncode == 0, r.stdout + r.stderr
    router = await asyncio.to_thread(suite.router)
    assert router["healthy"], router
    return int(router["pid"])


async def _answer(http: httpx.AsyncClient, suite: Suite) -> str:
    resp = await http.post(f"{suite.url}/v1/messages", json=BODY)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["content"][0]["text"])


async def _router_log(suite: Suite, event: str, timeout: float = 5.0) -> bool:
    path = suite.base / "logs" / "router_00.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line.get("event") == event for line in log_lines(path)):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_sighup_under_supervisord_switches_rules_without_cutting_a_stream(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        one.default = Reply(text=WORDS, chunk_delay=0.15)
        two.default = Reply(text="from two")
        suite = make_suite(tmp_path, _routed(one.base_url, two.base_url, "one"))
        try:
            pid = await _start(suite)
            async with httpx.AsyncClient(timeout=20) as http:
                stream = {**BODY, "stream": True}
                async with http.stream("POST", f"{suite.url}/v1/messages", json=stream) as resp:
                    chunks = resp.aiter_bytes()
                    received = await chunks.__anext__()
                    write_config(suite.base, suite.port, _routed(one.base_url, two.base_url, "two"))
                    os.kill(pid, signal.SIGHUP)
                    for _ in range(50):  # bounded: 5 s; the stream is still running
                        if await _answer(http, suite) == "from two":
                            break
                        await asyncio.sleep(0.1)
                    else:
                        raise AssertionError("the new rule was never followed")
                    midway = len(received)
                    async for chunk in chunks:
                        received += chunk
                assert len(received) > midway  # it was in flight across the reload
                assert b"event: message_stop" in received and b"event: error" not in received
                assert received.count(b"text_delta") >= 2
                assert await _router_log(suite, "config reloaded")
                # A broken file: refused with a log line, the running config kept.
                write_config(
                    suite.base, suite.port, _routed(one.base_url, two.base_url, "two", "(")
                )
                os.kill(pid, signal.SIGHUP)
                assert await _router_log(suite, "config reload failed; keeping the running config")
                for _ in range(3):
                    assert await _answer(http, suite) == "from two"
            router = await asyncio.to_thread(suite.router)
            assert router["pid"] == pid and router["healthy"]  # reloaded, never restarted
        finally:
            await asyncio.to_thread(force_cleanup, suite)


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


async def test_stop_during_a_long_stream_lets_it_finish_then_exits(tmp_path: Path) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        one.default = Reply(text=WORDS, chunk_delay=0.15)
        suite = make_suite(tmp_path, _routed(one.base_url, two.base_url, "one"))
        try:
            pid = await _start(suite)
            daemon = suite.supervisord_pid()
            assert daemon is not None
            async with httpx.AsyncClient(timeout=20) as http:
                stream = {**BODY, "stream": True}
                async with http.stream("POST", f"{suite.url}/v1/messages", json=stream) as resp:
                    chunks = resp.aiter_bytes()
                    received = await chunks.__anext__()
                    began, began_wall = time.monotonic(), time.time()
                    loop = asyncio.get_running_loop()
                    stopping = loop.run_in_executor(None, suite.run, "stop.sh")
                    refused = False
                    async for chunk in chunks:
                        received += chunk
                        refused = refused or await asyncio.to_thread(_refused, suite.port)
                    ended = time.monotonic()
                result = await stopping
            stopped = time.monotonic()
        finally:
            await asyncio.to_thread(force_cleanup, suite)
    assert b"event: message_stop" in received and b"event: error" not in received
    assert received.count(b"text_delta") >= 10
    assert refused, "the router kept accepting connections while draining"
    assert result.returncode == 0 and "stopped" in result.stdout, result.stderr
    assert stopped >= ended > began + 1.0  # stop.sh waited for the stream
    assert gone(pid) and gone(daemon)
    # supervisord saw the router exit cleanly, and only after the stream's 3 s had passed
    # (SIGTERM came right after its first event: without draining it exits at once).
    log = (suite.base / "logs" / "supervisord.log").read_text().splitlines()
    line = next(x for x in log if "stopped: router_00 (exit status 0)" in x)
    exited = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    assert exited >= began_wall + 2.0, (line, began_wall)
