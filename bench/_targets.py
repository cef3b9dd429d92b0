"""The issues' targets, judged on the default router (access log at ``info``, usage and
metrics on); ``router-off`` is the same router with usage recording and metrics off."""

from __future__ import annotations

from collections.abc import Sequence

from ._agent_report import RATIO_BASE, StreamsRow, cpu_ratio
from ._report import Report, Target

__all__ = ["evaluate", "evaluate_agent"]

# Issue 14: the small-body rows must not get worse than they were (router/bare req/s).
_SMALL_FLOOR = {"plain": 0.63, "stream": 0.73}
_STREAMS_RSS_MB = 150.0


def evaluate(
    report: Report, idle_rss_mb: float, start_s: float, conc: int, home: int, n_a: str | None
) -> list[Target]:
    """``home``: the cpus of the saturating rows (2 when the process under test has its own);
    ``n_a``: why the translated path was not measured."""
    out: list[Target] = []
    for mode in ("plain", "stream"):
        r, b = report.get("router", mode, conc, home), report.get("bare", mode, conc, home)
        if r and b and b.load.rps:
            ratio, floor = r.load.rps / b.load.rps, _SMALL_FLOOR[mode]
            name = f"router/bare req/s, {mode}, c={conc}"
            out.append(Target(name, f"{ratio:.2f}x", f">= {floor:.2f}x", ratio >= floor))
    for mode in ("plain", "stream"):
        for cpus in (1, 2):
            r, d, b = (report.get(t, mode, 1, cpus) for t in ("router", "direct", "bare"))
            if not (r and d and b):
                continue
            added = r.load.p50_ms - d.load.p50_ms
            value = f"{added:.3f} ms (bare {b.load.p50_ms - d.load.p50_ms:.3f})"
            name = f"added p50 c=1, {mode}, {cpus} cpu{'s' if cpus > 1 else ''} (router-direct)"
            out.append(Target(name, value, "<= 0.300 ms", added <= 0.3))
    for c, cpus in ((1, 1), (conc, home)):
        on, off = report.get("router", "plain", c, cpus), report.get("router-off", "plain", c, cpus)
        if on and off and off.load.rps:
            ratio = on.load.rps / off.load.rps
            name = f"plain req/s usage+metrics on/off, c={c}"
            out.append(Target(name, f"{ratio:.2f}x", ">= 0.90x", ratio >= 0.9))
    out.append(Target("router idle RSS", f"{idle_rss_mb:.1f} MB", "<= 60 MB", idle_rss_mb <= 60))
    out.append(Target("router start -> healthy", f"{start_s:.3f} s", "<= 1.000 s", start_s <= 1.0))
    name = "translated/passthrough router CPU per stream"
    paced = _cpu_ratio(report, "paced", None, home)
    others = [(f"c={c}", _cpu_ratio(report, "stream", c, n)) for c, n in ((1, 1), (conc, home))]
    if paced is None:
        out.append(Target(name, f"n/a ({n_a or 'not measured'})", "<= 1.30x", None))
    else:
        more = ", ".join(f"stream {k} {v:.2f}x" for k, v in others if v is not None)
        out.append(Target(name, f"paced {paced:.2f}x ({more})", "<= 1.30x", paced <= 1.3))
    return out


def _cpu_ratio(report: Report, mode: str, conc: int | None, cpus: int) -> float | None:
    """Router CPU per request, translated over passthrough, in one row (any concurrency)."""

    def cpu(target: str) -> float | None:
        for m in report.measurements:
            if (m.target, m.mode, m.cpus) == (target, mode, cpus) and conc in (None, m.concurrency):
                return m.cpu_us_per_req
        return None

    x, y = cpu("translated"), cpu("router")
    return x / y if x and y else None


def evaluate_agent(
    report: Report,
    bodies: Sequence[tuple[str, str]],
    streams: Sequence[StreamsRow],
    skipped: dict[str, str],
) -> list[Target]:
    """Issue 14: CPU per request, passthrough/bare and translated/passthrough, per body;
    the slow streams: no error, router peak RSS bounded."""
    out: list[Target] = []
    for target, (base, goal) in RATIO_BASE.items():
        for mode, label in bodies:
            name = f"{target}/{base} cpu us/req, {label}"
            r = cpu_ratio(report, target, mode)
            if r is None:
                why = skipped.get(target) or skipped.get(base) or "not measured"
                out.append(Target(name, f"n/a ({why})"[:60], f"<= {goal:.2f}x", None))
            else:
                out.append(Target(name, f"{r:.2f}x", f"<= {goal:.2f}x", r <= goal))
    for row in streams:
        name = f"{row.streams} slow streams, {row.label}: errors"
        if row.failure and not row.summary:
            out.append(Target(name, "run failed", "0", False))
            continue
        out.append(Target(name, str(row.errors), "0", row.errors == 0))
        name = f"{row.streams} slow streams, {row.label}: router peak RSS"
        ok = row.peak_mb <= _STREAMS_RSS_MB
        out.append(Target(name, f"{row.peak_mb:.1f} MB", f"<= {_STREAMS_RSS_MB:.0f} MB", ok))
    return out
