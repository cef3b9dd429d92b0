"""The processes a benchmark run starts: pinned, health-checked, measured, stopped.

CPU placement on a 2-core machine: the process under test (bare relay or
router) runs alone on ``SERVER_CPU``; the load generator, the fake upstream
and this orchestrator share ``CLIENT_CPU``. Each relay thus gets a whole
core and the numbers compare relays, not neighbours. For the "direct" rows
the fake is moved to ``SERVER_CPU`` (nothing else runs there then). With
fewer than two CPUs nothing is pinned.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

__all__ = [
    "CLIENT_CPU",
    "OtherCPU",
    "PINNING",
    "SERVER_CPU",
    "PeakRSS",
    "Service",
    "free_port",
    "pin_to",
    "python_argv",
]

PROJECT = Path(__file__).resolve().parent.parent
PINNING = (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
SERVER_CPU = 0
CLIENT_CPU = 1


def pin_to(cpu: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to one CPU (None when not pinning)."""
    if not PINNING:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """One server process on 127.0.0.1, its stdout/stderr in a log file."""

    def __init__(self, name: str, argv: list[str], port: int, cpu: int, log: Path) -> None:
        self.name = name
        self.port = port
        self.cpu = cpu
        self._argv = argv
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None
        self.start_seconds = 0.0

    def start(self, health_timeout: float = 20.0) -> float:
        """Start, wait for ``GET /healthz`` → 200; return seconds from spawn to healthy."""
        with open(self._log, "ab") as log:
            t0 = time.perf_counter()
            self._proc = subprocess.Popen(
                self._argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT,
                preexec_fn=pin_to(self.cpu),
                stdin=subprocess.DEVNULL,
            )
        self.ps = psutil.Process(self._proc.pid)
        deadline = t0 + health_timeout
        while time.perf_counter() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self._proc.returncode}; see {self._log}"
                )
            if _healthy(self.port):
                self.start_seconds = time.perf_counter() - t0
                return self.start_seconds
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} not healthy after {health_timeout}s; see {self._log}")

    def move_to(self, cpu: int) -> None:
        if PINNING and self.ps is not None:
            for t in self.ps.threads():
                os.sched_setaffinity(t.id, {cpu})

    def rss_mb(self) -> float:
        assert self.ps is not None
        return float(self.ps.memory_info().rss) / 2**20

    def cpu_seconds(self) -> float:
        assert self.ps is not None
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    @property
    def log(self) -> Path:
        return self._log

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class PeakRSS:
    """Samples a process's RSS in a thread while a load runs (``with PeakRSS(svc):``)."""

    def __init__(self, service: Service, every: float = 0.1) -> None:
        self._svc = service
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_mb = 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._svc.rss_mb())
            self._stop.wait(self._every)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class OtherCPU:
    """How busy other programs kept the machine while a load ran (``with OtherCPU():``).

    The CPU time that processes other than this one and its descendants used
    during the run, as a percentage of all CPUs. Other sessions' tests on a
    shared machine show up here; a row with a high value is suspect. Processes
    that start and end within the run, kernel work not charged to a process
    and VM steal are not seen, so this is a lower bound.
    """

    def __init__(self) -> None:
        self.percent = 0.0
        self._t0 = 0.0
        self._start: dict[int, tuple[float, float]] = {}

    @staticmethod
    def _others() -> dict[int, tuple[float, float]]:
        me = psutil.Process()
        ours = {me.pid, *(c.pid for c in me.children(recursive=True))}
        out: dict[int, tuple[float, float]] = {}
        for proc in psutil.process_iter(["create_time", "cpu_times"]):
            t = proc.info["cpu_times"]
            if proc.pid in ours or t is None:
                continue
            used = t.user + t.system  # not children's: a reaped child brings its whole life
            out[proc.pid] = (float(proc.info["create_time"] or 0.0), float(used))
        return out

    def __enter__(self) -> OtherCPU:
        self._start = self._others()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t0
        used = 0.0
        for pid, (created, total) in self._others().items():
            before = self._start.get(pid)
            if before is not None and before[0] == created:
                used += max(0.0, total - before[1])
            elif created >= time.time() - wall - 1:
                used += total  # started during the run
        cpus = os.cpu_count() or 1
        self.percent = 100.0 * used / (wall * cpus) if wall > 0 else 0.0


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
