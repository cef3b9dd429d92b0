"""How the agent rows print: the big-body table with its CPU ratios, the slow-streams table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ._report import Measurement, Report

__all__ = ["StreamsRow", "agent_table", "cpu_ratio", "streams_table"]

_NAMES = {
    "bare": "bare aiohttp relay",
    "passthrough": "router passthrough",
    "translated": "router translated",
}
# target -> the row its CPU is compared with, and the bound on the ratio
RATIO_BASE = {"passthrough": ("bare", 1.3), "translated": ("passthrough", 1.3)}


@dataclass(slots=True)
class StreamsRow:
    label: str
    streams: int
    summary: dict[str, object] = field(default_factory=dict)  # bench.streams' answer
    idle_mb: float = 0.0
    peak_mb: float = 0.0
    cpu_s: float = 0.0
    other_pct: float = 0.0
    health_max_ms: float = 0.0  # slowest /healthz while the streams ran
    health_failures: int = 0
    failure: str | None = None  # the router or the client broke: what happened

    @property
    def errors(self) -> int:
        return int(str(self.summary.get("errors", self.streams)))


def _row(report: Report, target: str, mode: str) -> Measurement | None:
    for m in report.measurements:
        if (m.target, m.mode) == (target, mode):
            return m
    return None


def cpu_ratio(report: Report, target: str, mode: str) -> float | None:
    """CPU per request of ``target`` over its base row's (passthrough/bare, translated/passthrough)."""
    base = RATIO_BASE[target][0]
    a, b = _row(report, target, mode), _row(report, base, mode)
    if a is None or b is None or not a.cpu_us_per_req or not b.cpu_us_per_req:
        return None
    return a.cpu_us_per_req / b.cpu_us_per_req


def agent_table(
    report: Report, bodies: Sequence[tuple[str, str]], conc: int, skipped: dict[str, str]
) -> str:
    """``bodies``: (mode, label) in order; ``skipped``: targets not measured, with why."""
    head = (
        f"{'body':<24} {'target':<20} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
        f"{'cpu us/req':>10}  {'cpu ratio (target)':<26} {'other%':>6}"
    )
    lines = [
        f"agent bodies: Anthropic client, streaming, c={conc}; cpu us/req counts the process "
        "under test only; each row its round with the least CPU",
        head,
        "-" * len(head),
    ]
    for mode, label in bodies:
        for i, target in enumerate(("bare", "passthrough", "translated")):
            first = label if i == 0 else ""
            m = _row(report, target, mode)
            if m is None:
                why = skipped.get(target, "not measured")
                lines.append(f"{first:<24} {_NAMES[target]:<20} n/a ({why})")
                continue
            ratio = ""
            if target in RATIO_BASE:
                r = cpu_ratio(report, target, mode)
                base, goal = RATIO_BASE[target]
                ratio = f"{r:.2f}x {base} (<= {goal:.2f}x)" if r is not None else "-"
            cpu = f"{m.cpu_us_per_req:.0f}" if m.cpu_us_per_req is not None else "-"
            lines.append(
                f"{first:<24} {_NAMES[target]:<20} {m.load.rps:>7.0f} {m.load.p50_ms:>8.2f} "
                f"{m.load.p99_ms:>8.2f} {m.load.errors:>6} {cpu:>10}  {ratio:<26} "
                f"{m.other_cpu_pct:>6.0f}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def streams_table(rows: Sequence[StreamsRow], seconds: float, ramp: float, pool: int) -> str:
    if not rows:
        return ""
    head = (
        f"{'body':<24} {'ok':>5} {'errors':>6} {'events':>9} {'ttfb ms p50/max':>16} "
        f"{'stream s max':>12} {'RSS MB idle/peak':>17} {'cpu s':>6} {'healthz max ms':>14} "
        f"{'other%':>6}"
    )
    lines = [
        f"{rows[0].streams} concurrent slow streams (one event per 100 ms for {seconds:g} s, "
        f"started over {ramp:g} s), Anthropic passthrough, each row a fresh router, upstream "
        f"pool {'max_connections ' + str(pool) if pool else 'as configured by default'}",
        head,
        "-" * len(head),
    ]
    for row in rows:
        s = row.summary
        if row.failure and not s:
            lines.append(f"{row.label:<24} FAILED: {row.failure}")
            continue
        events = f"{s.get('events_min')}-{s.get('events_max')}"
        ttfb = f"{_f(s.get('ttfb_p50_ms'))}/{_f(s.get('ttfb_max_ms'))}"
        rss = f"{row.idle_mb:.0f}/{row.peak_mb:.0f}"
        health = f"{row.health_max_ms:.0f}"
        health += f" ({row.health_failures} failed)" if row.health_failures else ""
        lines.append(
            f"{row.label:<24} {s.get('ok', 0)!s:>5} {s.get('errors', 0)!s:>6} {events:>9} "
            f"{ttfb:>16} {_f(s.get('stream_max_s'), 1):>12} {rss:>17} "
            f"{row.cpu_s:>6.1f} {health:>14} {row.other_pct:>6.0f}"
        )
        kinds = s.get("error_kinds")
        if isinstance(kinds, dict) and kinds:
            lines.append(f"{'':<24} errors: " + ", ".join(f"{k}: {v}" for k, v in kinds.items()))
        if row.failure:
            lines.append(f"{'':<24} {row.failure}")
    return "\n".join(lines)


def _f(value: object, digits: int = 0) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"
