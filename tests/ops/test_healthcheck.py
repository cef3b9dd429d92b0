"""The healthcheck listener's parts: restart rule, event channel, probe round.

The end-to-end case (a SIGSTOPped router under real supervisord is restarted)
is in test_scripts.py; here the pieces run without supervisord, fast.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ops.healthcheck import EventChannel, Listener, Tracker, restart_process
from ops.probe import ProbeResult, probe

OK = ProbeResult(True, 200, 1.0, "")
BAD = ProbeResult(False, 500, 1.0, "HTTP 500")


def test_restart_only_after_n_failures_in_a_row() -> None:
    t = Tracker(failures_before_restart=3)
    assert [t.observe("router:router", BAD, 0) for _ in range(2)] == [False, False]
    assert t.observe("router:router", OK, 0) is False  # a success resets the count
    assert [t.observe("router:router", BAD, 0) for _ in range(3)] == [False, False, True]
    t.restarted("router:router", "why", 1.0)
    rec = t.record("router:router")
    assert (rec.failures, rec.health_restarts, rec.last_restart_reason) == (0, 1, "why")


def test_tracker_state_survives_a_listener_restart() -> None:
    t = Tracker(2)
    t.started("router:router")
    t.started("router:router")
    again = Tracker(2)
    again.load(t.to_json())
    assert again.record("router:router").starts == 2


class _Pipe:
    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.out = os.fdopen(out_w, "w")

    def close(self) -> None:
        self.out.close()
        for fd in (self.r, self.w, self.out_r):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def pipe() -> Iterator[_Pipe]:
    p = _Pipe()
    yield p
    p.close()


def test_event_channel_times_out_then_reads_an_event_in_pieces(pipe: _Pipe) -> None:
    ch = EventChannel(pipe.r, pipe.out)
    ch.ready()
    assert os.read(pipe.out_r, 100) == b"READY\n"
    assert ch.wait(0.05) is None
    payload = "processname:router groupname:router from_state:STOPPED tries:0"
    header = (
        f"ver:3.0 server:supervisor serial:1 eventname:PROCESS_STATE_STARTING len:{len(payload)}\n"
    )
    os.write(pipe.w, header.encode()[:10])
    os.write(pipe.w, header.encode()[10:] + payload.encode()[:5])
    os.write(pipe.w, payload.encode()[5:])
    event = ch.wait(1.0)
    assert event is not None
    headers, body = event
    assert headers["eventname"] == "PROCESS_STATE_STARTING" and body == payload
    ch.ok()
    assert os.read(pipe.out_r, 100) == b"RESULT 2\nOK"


def test_event_channel_eof_ends_the_listener(pipe: _Pipe) -> None:
    ch = EventChannel(pipe.r, pipe.out)
    os.close(pipe.w)
    with pytest.raises(EOFError):
        ch.wait(1.0)


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b'{"status": "degraded", "detail": "no profile signed in: run login"}'
        self.send_response(type(self).status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Handler", (_Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_probe(health_server: tuple[str, type[_Health]]) -> None:
    url, handler = health_server
    good = probe(url, 2)
    assert good.ok and good.status == 200 and good.detail == "no profile signed in: run login"
    handler.status = 503
    assert probe(url, 2).summary() == "HTTP 503"
    refused = probe("http://127.0.0.1:9/healthz", 1)
    assert not refused.ok and refused.status is None


class FakeSupervisor:
    """Stands in for the XML-RPC client: one RUNNING process, restarts recorded."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.state = "RUNNING"
        self.calls: list[str] = []

    def processes(self) -> list[dict[str, Any]]:
        return [{"group": "router", "name": "router", "statename": self.state, "pid": self.pid}]

    def process(self, name: str) -> dict[str, Any]:
        return self.processes()[0]

    def stop(self, name: str, wait: bool = False) -> None:
        self.calls.append(f"stop {name}")
        self.state = "STOPPED"

    def start(self, name: str, wait: bool = False) -> None:
        self.calls.append(f"start {name}")
        self.state = "RUNNING"


class _Log:
    def __init__(self) -> None:
        self.events: list[str] = []

    def __getattr__(self, level: str) -> Any:
        return lambda event, **kw: self.events.append(f"{level}: {event}")


def test_failing_health_url_restarts_after_n_rounds_not_before(
    health_server: tuple[str, type[_Health]], pipe: _Pipe
) -> None:
    url, handler = health_server
    handler.status = 500
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sv = FakeSupervisor(sleeper.pid)
        log = _Log()
        listener = Listener(
            channel=EventChannel(pipe.r, pipe.out),
            sv=sv,  # type: ignore[arg-type]
            targets={"router": url},
            tracker=Tracker(3),
            interval=1,
            timeout=1,
            kill_after=2,
            state_path=None,
            log=log,
        )
        listener.probe_round()
        listener.probe_round()
        assert sv.calls == []
        listener.probe_round()
        assert sv.calls == ["stop router:router", "start router:router"]
        assert "error: restarting unhealthy process" in log.events
        handler.status = 200
        listener.probe_round()
        assert listener.tracker.record("router:router").failures == 0
    finally:
        sleeper.kill()
        sleeper.wait(5)


def test_start_events_are_counted(pipe: _Pipe) -> None:
    listener = Listener(
        channel=EventChannel(pipe.r, pipe.out),
        sv=FakeSupervisor(0),  # type: ignore[arg-type]
        targets={},
        tracker=Tracker(2),
        interval=1,
        timeout=1,
        kill_after=1,
        state_path=None,
        log=_Log(),
    )
    started = {"eventname": "PROCESS_STATE_STARTING"}
    listener.on_event(started, "processname:router groupname:router from_state:STOPPED tries:0")
    listener.on_event(started, "processname:router groupname:router from_state:BACKOFF tries:1")
    listener.on_event(started, "processname:healthcheck groupname:healthcheck from_state:STOPPED")
    assert listener.tracker.record("router:router").starts == 2
    assert "healthcheck:healthcheck" not in listener.tracker.records


class StubbornSupervisor(FakeSupervisor):
    """Its process ignores the graceful stop: state follows the real process."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(proc.pid)
        self.proc = proc

    def process(self, name: str) -> dict[str, Any]:
        self.state = "RUNNING" if self.proc.poll() is None else "STOPPED"
        return super().process(name)

    def stop(self, name: str, wait: bool = False) -> None:
        self.calls.append(f"stop {name}")  # supervisord would send SIGTERM: ignored


def test_a_process_that_ignores_stop_is_killed_with_its_group() -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        sv = StubbornSupervisor(proc)
        how = restart_process(sv, "router:router", proc.pid, kill_after=0.5)  # type: ignore[arg-type]
        assert how == "killed after 0.5 s"
        assert proc.wait(5) == -signal.SIGKILL
        assert sv.calls == ["stop router:router", "start router:router"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
