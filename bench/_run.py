"""One benchmark run: its options, its services and how one row is measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._load import LoadSpec, run_load
from ._procs import CLIENT_CPU, SERVER_CPU, OtherCPU, PeakRSS, Service, pin_to
from ._report import Measurement, Report

__all__ = ["PATH", "Options", "Run", "url"]

PATH = "/v1/chat/completions"


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    warmup: float
    concurrency: int
    paced_concurrency: int
    count: int
    tool: str
    profile: float
    rounds: int
    plain_only: bool = False
    agent: bool = True  # the rows of real agent bodies (Claude Code turn, grown session)
    agent_only: bool = False
    agent_concurrency: int = 8
    streams: int = 1000  # concurrent slow streams (0: no such row)
    stream_seconds: float = 20.0  # how long each slow stream lasts
    stream_ramp: float = 2.0  # the slow streams start evenly over this long
    upstream_connections: int = 0  # providers' max_connections for the streams row; 0: default


@dataclass(slots=True)
class Run:
    opts: Options
    workdir: Path
    services: dict[str, Service]
    report: Report

    def measure(
        self,
        target: str,
        svc: str,
        body: bytes,
        mode: str,
        conc: int,
        cpus: int,
        path: str = PATH,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Measurement:
        under_test = self.services[svc]
        self._place(under_test, cpus)
        stream = mode != "plain"
        target_url = url(under_test, path)
        spec = LoadSpec(target_url, body, conc, self.opts.seconds, self.opts.count, stream, headers)
        client = pin_to(CLIENT_CPU)
        warm = LoadSpec(target_url, body, conc, self.opts.warmup, self.opts.count, stream, headers)
        try:
            run_load(warm, self.workdir, self.opts.tool, client)
            cpu0 = under_test.cpu_seconds()
            with PeakRSS(under_test) as rss, OtherCPU() as other:
                load = run_load(spec, self.workdir, self.opts.tool, client)
            cpu = under_test.cpu_seconds() - cpu0
        finally:
            self._place(None, 2)
        per_req = cpu * 1e6 / load.requests if load.requests else None
        m = Measurement(target, mode, conc, cpus, load, per_req, rss.peak_mb, other.percent)
        self.report.add(m)
        return m

    def _place(self, under_test: Service | None, cpus: int) -> None:
        """cpus=2: the process under test alone on SERVER_CPU (the fake too, when it is
        the one under test); cpus=1: everything on CLIENT_CPU. None: back home."""
        fake = self.services["fake"]
        if under_test is None:
            for svc in self.services.values():
                svc.move_to(svc.cpu)
        elif cpus == 1:
            under_test.move_to(CLIENT_CPU)
        elif under_test is fake:
            fake.move_to(SERVER_CPU)


def url(svc: Service, path: str = PATH) -> str:
    return f"http://127.0.0.1:{svc.port}{path}"
