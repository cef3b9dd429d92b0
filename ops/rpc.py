"""Talk to the suite's supervisord: XML-RPC over its unix socket, and its pid.

supervisor ships a unix-socket transport, but it has no timeout: a wedged
supervisord would hang ``status.sh`` forever. This one is a few lines of
stdlib with a timeout on every call.
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from pathlib import Path
from typing import Any, TypedDict, cast

import psutil

__all__ = [
    "RPC_ERRORS",
    "ProcessInfo",
    "Supervisor",
    "supervisord_pid",
]


# What a call to supervisord can raise: socket trouble, HTTP trouble, or a Fault.
RPC_ERRORS = (OSError, http.client.HTTPException, xmlrpc.client.Error)


class ProcessInfo(TypedDict):
    """What ``supervisor.getAllProcessInfo`` returns per process (the keys we use)."""

    name: str
    group: str
    statename: str
    pid: int
    start: int
    now: int
    spawnerr: str
    exitstatus: int
    description: str


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout)


class Supervisor:
    """A thin typed client for the calls the scripts and the listener make."""

    def __init__(self, socket_path: Path | str, timeout: float = 5.0) -> None:
        transport = _UnixTransport(str(socket_path), timeout)
        self._proxy = xmlrpc.client.ServerProxy("http://localhost", transport=transport)
        self._sv: Any = self._proxy.supervisor

    def state(self) -> str:
        """``RUNNING``, ``SHUTDOWN``...; raises OSError when nobody answers."""
        return str(self._sv.getState()["statename"])

    def pid(self) -> int:
        return int(self._sv.getPID())

    def processes(self) -> list[ProcessInfo]:
        return cast(list[ProcessInfo], self._sv.getAllProcessInfo())

    def process(self, name: str) -> ProcessInfo:
        return cast(ProcessInfo, self._sv.getProcessInfo(name))

    def start(self, name: str, wait: bool = False) -> None:
        self._sv.startProcess(name, wait)

    def stop(self, name: str, wait: bool = False) -> None:
        self._sv.stopProcess(name, wait)

    def signal(self, name: str, sig: str) -> None:
        self._sv.signalProcess(name, sig)

    def shutdown(self) -> None:
        self._sv.shutdown()


def supervisord_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` if that process is alive and is a supervisord.

    Checking the command line guards against a stale pid file whose number was
    reused by an unrelated process.
    """
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        cmdline = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return pid if "supervisord" in cmdline else None
