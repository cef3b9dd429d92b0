"""The suite's state in one table (``scripts/status.sh``) or one JSON document.

Sources: supervisord's process list (state, pid, start time), each program's
health URL (probed here, once per program), psutil (RSS, CPU) and the
healthcheck listener's state file (restart counts, last failure).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import psutil

from ops.probe import ProbeResult, probe
from ops.programs import Manifest
from ops.rpc import RPC_ERRORS, ProcessInfo, Supervisor, supervisord_pid

__all__ = ["ProcessStatus", "SuiteStatus", "collect", "format_table"]

_UP = frozenset({"RUNNING", "STARTING"})
_CPU_SAMPLE_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    program: str
    name: str
    state: str
    pid: int | None
    uptime_s: float | None
    restarts: int | None
    rss_bytes: int | None
    cpu_percent: float | None
    health: str
    latency_ms: float | None
    detail: str
    healthy: bool


@dataclass(frozen=True, slots=True)
class SuiteStatus:
    running: bool
    healthy: bool
    supervisord_pid: int | None
    endpoint: str | None
    run_dir: str
    processes: tuple[ProcessStatus, ...] = field(default=())
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _restarts(manifest: Manifest) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(manifest.paths.health_state.read_text())
    except (OSError, ValueError):
        return {}
    procs = data.get("processes") if isinstance(data, dict) else None
    return procs if isinstance(procs, dict) else {}


def _resources(pids: list[int]) -> dict[int, tuple[int, float]]:
    """RSS and CPU% for each pid, sampled together over one short window."""
    procs: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            p = psutil.Process(pid)
            p.cpu_percent(None)
            procs[pid] = p
        except psutil.Error:
            continue
    if procs:
        time.sleep(_CPU_SAMPLE_SECONDS)
    out: dict[int, tuple[int, float]] = {}
    for pid, p in procs.items():
        try:
            out[pid] = (p.memory_info().rss, p.cpu_percent(None))
        except psutil.Error:
            continue
    return out


def _probe_all(manifest: Manifest, infos: list[ProcessInfo]) -> dict[str, ProbeResult]:
    running = {i["group"] for i in infos if i["statename"] in _UP}
    urls = {p.name: p.health_url for p in manifest.programs if p.health_url and p.name in running}
    if not urls:
        return {}
    timeout = manifest.listener.timeout_seconds
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        futures = {name: pool.submit(probe, url, timeout) for name, url in urls.items()}
        return {name: f.result() for name, f in futures.items()}


def collect(manifest: Manifest, rpc_timeout: float = 5.0) -> SuiteStatus:
    """Ask supervisord, probe health URLs and measure processes."""
    paths = manifest.paths
    router = manifest.program("router")
    pid = supervisord_pid(paths.pidfile)
    base = SuiteStatus(
        running=pid is not None,
        healthy=False,
        supervisord_pid=pid,
        endpoint=router.endpoint if router else None,
        run_dir=str(paths.run_dir),
    )
    if pid is None:
        return replace(base, problem="supervisord is not running")
    try:
        infos = Supervisor(paths.socket, rpc_timeout).processes()
    except RPC_ERRORS as exc:
        return replace(base, problem=f"supervisord (pid {pid}) does not answer: {exc}")
    health = _probe_all(manifest, infos)
    res = _resources([i["pid"] for i in infos if i["pid"]])
    counts = _restarts(manifest)
    rows = tuple(_row(manifest, info, health, res, counts) for info in infos)
    return replace(base, healthy=all(r.healthy for r in rows), processes=rows)


def _row(
    manifest: Manifest,
    info: ProcessInfo,
    health: dict[str, ProbeResult],
    res: dict[int, tuple[int, float]],
    counts: dict[str, dict[str, Any]],
) -> ProcessStatus:
    group, state, pid = info["group"], info["statename"], info["pid"] or None
    program = manifest.program(group)
    result = health.get(group)
    rss, cpu = res.get(pid, (None, None)) if pid else (None, None)
    record = counts.get(f"{group}:{info['name']}", {})
    starts = record.get("starts")
    detail = info["spawnerr"] or ""
    if state == "STOPPED" and program is not None and not program.autostart:
        verdict, healthy = "disabled", True
    elif state not in _UP:
        verdict, healthy = "-", False
        detail = detail or info["description"]
    elif result is not None:
        verdict, healthy = result.summary(), result.ok
        detail = result.detail
    else:  # no health URL (the listener): its supervisord state is the verdict
        verdict, healthy = "-", True
    return ProcessStatus(
        program=group,
        name=info["name"],
        state=state,
        pid=pid,
        uptime_s=float(info["now"] - info["start"]) if pid else None,
        restarts=max(int(starts) - 1, 0) if isinstance(starts, int) else None,
        rss_bytes=rss,
        cpu_percent=cpu,
        health=verdict,
        latency_ms=result.latency_ms if result is not None and state in _UP else None,
        detail=detail,
        healthy=healthy,
    )


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}:{minutes:02d}:{s:02d}"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1048576:.1f}M"


def format_table(status: SuiteStatus) -> str:
    """Human-readable: one line per process, then a verdict line."""
    if not status.running or not status.processes:
        return f"cli-proxy-api: {status.problem or 'no processes'} (run dir {status.run_dir})"
    head = ("PROGRAM", "STATE", "PID", "UPTIME", "RESTARTS", "RSS", "CPU", "HEALTH", "LATENCY")
    rows = [head]
    details: list[str] = []
    for p in status.processes:
        name = p.name if p.name == p.program else f"{p.program}:{p.name}"
        rows.append(
            (
                name,
                p.state,
                str(p.pid or "-"),
                _uptime(p.uptime_s),
                "-" if p.restarts is None else str(p.restarts),
                _mb(p.rss_bytes),
                "-" if p.cpu_percent is None else f"{p.cpu_percent:.0f}%",
                p.health,
                "-" if p.latency_ms is None else f"{p.latency_ms:.1f}ms",
            )
        )
        if p.detail:
            details.append(f"  {name}: {p.detail}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    verdict = "healthy" if status.healthy else "UNHEALTHY"
    lines += details
    lines.append(f"supervisord pid {status.supervisord_pid}; endpoint {status.endpoint}; {verdict}")
    return "\n".join(lines)
