"""The printed result: one table of measurements, then ratios and targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ._load import LoadResult

__all__ = ["Measurement", "Report", "Target"]


@dataclass(frozen=True, slots=True)
class Measurement:
    target: str  # "direct", "bare", "router", "router-warn", "translated"
    mode: str  # "plain" or "stream"
    concurrency: int
    cpus: int  # 2: the process under test has a CPU of its own; 1: all share one CPU
    load: LoadResult
    cpu_us_per_req: float | None  # CPU time of the process under test per request
    peak_rss_mb: float | None = None
    other_cpu_pct: float = 0.0  # CPU used by processes not in the benchmark (see OtherCPU)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    value: str
    goal: str
    ok: bool | None  # None: not measurable in this run


@dataclass(slots=True)
class Report:
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    best: str = "rps"  # which round a row keeps: highest req/s, or "cpu": least CPU per request

    def add(self, m: Measurement) -> None:
        """Keep the best of repeated rounds: interference only slows down and adds CPU."""
        old = self.get(m.target, m.mode, m.concurrency, m.cpus)
        if old is None:
            self.measurements.append(m)
        elif self._better(m, old):
            self.measurements[self.measurements.index(old)] = m

    def _better(self, m: Measurement, old: Measurement) -> bool:
        if self.best != "cpu":
            return m.load.rps > old.load.rps
        inf = float("inf")
        new_key = (m.load.errors > 0, m.cpu_us_per_req if m.cpu_us_per_req is not None else inf)
        old_key = (
            old.load.errors > 0,
            old.cpu_us_per_req if old.cpu_us_per_req is not None else inf,
        )
        return new_key < old_key

    def get(self, target: str, mode: str, concurrency: int, cpus: int) -> Measurement | None:
        for m in self.measurements:
            if (m.target, m.mode, m.concurrency, m.cpus) == (target, mode, concurrency, cpus):
                return m
        return None

    def table(self, labels: dict[str, str]) -> str:
        head = (
            f"{'path':<7} {'conc':>4} {'cpus':>4}  {'target':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'errors':>6} {'cpu us/req':>10} {'vs bare':>7} {'vs direct':>9} {'other%':>6}"
        )
        lines = [head, "-" * len(head)]
        last: tuple[str, int, int] | None = None
        for m in sorted(self.measurements, key=_order):
            key = (m.mode, m.concurrency, m.cpus)
            if last is not None and last != key:
                lines.append("")
            last = key
            bare = self.get("bare", *key)
            direct = self.get("direct", *key)
            vs_bare = _ratio(m, bare) if m.target.startswith(("router", "translated")) else ""
            vs_direct = _ratio(m, direct) if m.target != "direct" else ""
            cpu = f"{m.cpu_us_per_req:.0f}" if m.cpu_us_per_req is not None else "-"
            lines.append(
                f"{m.mode:<7} {m.concurrency:>4} {m.cpus:>4}  {labels.get(m.target, m.target):<22} "
                f"{m.load.rps:>9.0f} {m.load.p50_ms:>8.3f} {m.load.p99_ms:>8.3f} "
                f"{m.load.errors:>6} {cpu:>10} {vs_bare:>7} {vs_direct:>9} {m.other_cpu_pct:>6.0f}"
            )
        return "\n".join(lines)


_MODES = ("plain", "stream", "paced")
_TARGETS = ("direct", "bare", "router", "router-warn", "router-off", "translated")


def _order(m: Measurement) -> tuple[int, int, int, int]:
    mode = _MODES.index(m.mode) if m.mode in _MODES else len(_MODES)
    target = _TARGETS.index(m.target) if m.target in _TARGETS else len(_TARGETS)
    return (mode, m.concurrency, m.cpus, target)


def _ratio(m: Measurement, base: Measurement | None) -> str:
    if base is None or not base.load.rps:
        return "-"
    return f"{m.load.rps / base.load.rps:.2f}x"


def format_targets(targets: Sequence[Target]) -> str:
    lines = []
    width = max([44, *(len(t.name) for t in targets)])
    for t in targets:
        mark = "n/a " if t.ok is None else ("PASS" if t.ok else "FAIL")
        lines.append(f"  [{mark}] {t.name:<{width}} {t.value:<26} target {t.goal}")
    return "\n".join(lines)
