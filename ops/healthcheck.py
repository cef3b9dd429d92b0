"""``python -m ops.healthcheck``: supervisord event listener that restarts hung programs.

supervisord restarts a process that *exits*; it cannot tell a live process
that stopped answering. This listener probes each RUNNING program's health
URL every ``--interval`` seconds and, after ``--failures`` failures in a row,
restarts that process over supervisord's XML-RPC and logs why.

It also counts every start it hears about (``PROCESS_STATE_STARTING``), so
``status.sh`` can show restarts, and writes its view to ``--state`` (JSON).

Protocol: stdout belongs to supervisord (READY / RESULT tokens via
``supervisor.childutils``); logs go to stderr (``logs/healthcheck.log``). The
wait for an event has a timeout, so probes run on time whether or not events
arrive; the listener exits when supervisord closes its stdin.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psutil
from supervisor import childutils

from ops.probe import ProbeResult, probe
from ops.programs import HEALTHCHECK
from ops.rpc import RPC_ERRORS, Supervisor
from suite.files import write_private
from suite.logging import get_logger, setup_logging

__all__ = ["EventChannel", "ProcessRecord", "Tracker", "main", "restart_process"]

_STOPPED = frozenset({"STOPPED", "EXITED", "FATAL"})
_MAX_HEADER = 4096


class EventChannel:
    """The listener's end of the event protocol, with a bounded wait."""

    def __init__(self, fd_in: int, out: TextIO) -> None:
        self._fd = fd_in
        self._out = out
        self._buf = b""

    def ready(self) -> None:
        childutils.listener.ready(self._out)

    def ok(self) -> None:
        childutils.listener.ok(self._out)

    def _fill(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False on timeout. EOFError at EOF."""
        readable, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
        if not readable:
            return False
        chunk = os.read(self._fd, 65536)
        if not chunk:
            raise EOFError("supervisord closed the event channel")
        self._buf += chunk
        return True

    def wait(self, timeout: float) -> tuple[dict[str, str], str] | None:
        """The next event ``(headers, payload)``, or None if none came within ``timeout``."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            if len(self._buf) > _MAX_HEADER:
                raise EOFError("event header too long: not speaking supervisord's protocol")
            if not self._fill(deadline - time.monotonic()):
                return None
        line, self._buf = self._buf.split(b"\n", 1)
        headers: dict[str, str] = childutils.get_headers(line.decode())
        size = int(headers.get("len", "0"))
        body_deadline = time.monotonic() + 5.0  # the payload follows its header at once
        while len(self._buf) < size:
            if not self._fill(body_deadline - time.monotonic()):
                raise EOFError("event payload truncated")
        payload, self._buf = self._buf[:size], self._buf[size:]
        return headers, payload.decode()


@dataclass(slots=True)
class ProcessRecord:
    """What the listener knows about one process (``group:name``)."""

    starts: int = 0
    health_restarts: int = 0
    failures: int = 0
    last_probe: float | None = None
    last_ok: bool | None = None
    last_latency_ms: float | None = None
    last_error: str = ""
    last_restart: float | None = None
    last_restart_reason: str = ""


@dataclass(slots=True)
class Tracker:
    """Failure counting, kept free of I/O so the restart rule is tested directly."""

    failures_before_restart: int
    records: dict[str, ProcessRecord] = field(default_factory=dict)

    def record(self, key: str) -> ProcessRecord:
        return self.records.setdefault(key, ProcessRecord())

    def started(self, key: str) -> None:
        rec = self.record(key)
        rec.starts += 1
        rec.failures = 0

    def observe(self, key: str, result: ProbeResult, now: float) -> bool:
        """Record one probe; True when this failure is the one that calls for a restart."""
        rec = self.record(key)
        rec.last_probe, rec.last_ok, rec.last_latency_ms = now, result.ok, result.latency_ms
        if result.ok:
            rec.failures = 0
            return False
        rec.failures += 1
        rec.last_error = result.detail or result.summary()
        return rec.failures >= self.failures_before_restart

    def restarted(self, key: str, reason: str, now: float) -> None:
        rec = self.record(key)
        rec.health_restarts += 1
        rec.failures = 0
        rec.last_restart, rec.last_restart_reason = now, reason

    def to_json(self) -> dict[str, Any]:
        return {"processes": {k: asdict(v) for k, v in self.records.items()}}

    def load(self, data: Mapping[str, Any]) -> None:
        """Continue counting after the listener itself was restarted."""
        for key, raw in (data.get("processes") or {}).items():
            try:
                self.records[key] = ProcessRecord(**raw)
            except TypeError:
                continue


def _wait_state(sv: Supervisor, key: str, states: frozenset[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sv.process(key)["statename"] in states:
                return True
        except RPC_ERRORS:
            pass
        time.sleep(0.1)
    return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the program's process group (supervisord makes each program a group leader).

    Falls back to the pid alone if it is not a group leader, so this can never
    reach supervisord's own group.
    """
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except OSError:
        pass


def restart_process(sv: Supervisor, key: str, pid: int, kill_after: float) -> str:
    """Stop (gracefully if it can still hear us, else SIGKILL its group) and start again.

    SIGCONT first: a SIGSTOPped process would otherwise sit on its SIGTERM until
    supervisord's stopwaitsecs run out. Returns how it went, for the log.
    """
    how = "stopped gracefully"
    _signal_group(pid, signal.SIGCONT)
    try:
        sv.stop(key, wait=False)
    except RPC_ERRORS:
        pass  # already stopping or gone: what follows still applies
    if not _wait_state(sv, key, _STOPPED, kill_after):
        how = f"killed after {kill_after:g} s"
        _signal_group(pid, signal.SIGKILL)
        _wait_state(sv, key, _STOPPED, 5.0)
    sv.start(key, wait=False)
    return how


def _is_stopped(pid: int) -> bool:
    """A SIGSTOPped process cannot answer; say so instead of waiting for a timeout."""
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    except psutil.Error:
        return False


@dataclass(slots=True)
class Listener:
    channel: EventChannel
    sv: Supervisor
    targets: Mapping[str, str]
    tracker: Tracker
    interval: float
    timeout: float
    kill_after: float
    state_path: Path | None
    log: Any
    clock: Callable[[], float] = time.time

    def on_event(self, headers: Mapping[str, str], payload: str) -> None:
        name = headers.get("eventname", "")
        if not name.startswith("PROCESS_STATE_"):
            return
        fields = childutils.get_headers(payload.split("\n", 1)[0])
        group, proc = fields.get("groupname", ""), fields.get("processname", "")
        if not group or group == HEALTHCHECK:
            return
        key, state = f"{group}:{proc}", name.removeprefix("PROCESS_STATE_")
        if state == "STARTING":
            self.tracker.started(key)
        elif state in ("EXITED", "FATAL", "BACKOFF") and fields.get("expected") != "1":
            self.log.warning("process exited unexpectedly", process=key, state=state)

    def probe_round(self) -> None:
        try:
            infos = self.sv.processes()
        except RPC_ERRORS as exc:
            self.log.error("cannot ask supervisord for its processes", error=str(exc))
            return
        for info in infos:
            url = self.targets.get(info["group"])
            if url is None or info["statename"] != "RUNNING":
                continue
            key, pid = f"{info['group']}:{info['name']}", info["pid"]
            if _is_stopped(pid):
                result = ProbeResult(False, None, 0.0, "process is stopped (SIGSTOP)")
            else:
                result = probe(url, self.timeout)
            if result.ok:
                self.tracker.observe(key, result, self.clock())
                continue
            due = self.tracker.observe(key, result, self.clock())
            rec = self.tracker.record(key)
            self.log.warning(
                "health check failed",
                process=key,
                url=url,
                failures=rec.failures,
                error=rec.last_error,
            )
            if due:
                reason = f"{rec.failures} failed health checks in a row: {rec.last_error}"
                self.log.error("restarting unhealthy process", process=key, pid=pid, reason=reason)
                try:
                    how = restart_process(self.sv, key, pid, self.kill_after)
                except RPC_ERRORS as exc:
                    self.log.error("restart failed", process=key, error=str(exc))
                    continue
                self.tracker.restarted(key, reason, self.clock())
                self.log.info("process restarted", process=key, how=how)

    def save(self) -> None:
        if self.state_path is None:
            return
        data = {
            "updated": self.clock(),
            "interval_seconds": self.interval,
            **self.tracker.to_json(),
        }
        write_private(self.state_path, json.dumps(data, indent=2))

    def run(self) -> None:
        """Serve events and probe on schedule until supervisord closes stdin."""
        self.channel.ready()
        next_probe = time.monotonic() + self.interval
        while True:
            event = self.channel.wait(next_probe - time.monotonic())
            if event is not None:
                self.on_event(*event)
                self.channel.ok()
                self.save()
                self.channel.ready()
            if time.monotonic() >= next_probe:
                self.probe_round()
                self.save()
                next_probe = time.monotonic() + self.interval


def _target(text: str) -> tuple[str, str]:
    """``NAME=URL``; ``NAME=`` (supervisord.conf's value for a program without a
    health URL) is kept as an empty URL and never probed."""
    name, sep, url = text.partition("=")
    if not sep or not name or (url and not url.startswith("http")):
        raise argparse.ArgumentTypeError(f"expected NAME=URL, got {text!r}")
    return name, url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.healthcheck", description=__doc__)
    parser.add_argument("--socket", required=True, help="supervisord's unix socket")
    parser.add_argument("--state", help="JSON file for status.sh (restart counts)")
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--failures", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--kill-after", type=float, default=10.0)
    parser.add_argument("--target", type=_target, action="append", default=[])
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    # fd 1 is supervisord's protocol channel: keep a private copy, then point fd 1
    # at stderr so that nothing printed or logged can corrupt the protocol.
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    setup_logging("healthcheck", args.log_level)
    log = get_logger("healthcheck")
    tracker = Tracker(max(1, args.failures))
    state = Path(args.state) if args.state else None
    if state is not None and state.exists():
        try:
            tracker.load(json.loads(state.read_text()))
        except (OSError, ValueError):
            pass
    listener = Listener(
        channel=EventChannel(sys.stdin.fileno(), protocol),
        sv=Supervisor(args.socket, timeout=max(5.0, args.timeout)),
        targets={name: url for name, url in args.target if url},
        tracker=tracker,
        interval=args.interval,
        timeout=args.timeout,
        kill_after=args.kill_after,
        state_path=state,
        log=log,
    )
    log.info(
        "healthcheck started",
        targets=sorted(listener.targets),
        interval=args.interval,
        failures_before_restart=tracker.failures_before_restart,
    )
    try:
        listener.run()
    except EOFError:
        log.info("healthcheck stopping: supervisord closed the channel")
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
