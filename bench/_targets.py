"""The issues' targets, judged on the default router (access log at ``info``)."""

from __future__ import annotations

from ._report import Report, Target

__all__ = ["evaluate"]


def evaluate(
    report: Report, idle_rss_mb: float, start_s: float, conc: int, home: int, n_a: str | None
) -> list[Target]:
    """``home``: the cpus of the saturating rows (2 when the process under test has its own);
    ``n_a``: why the translated path was not measured."""
    out: list[Target] = []
    for mode in ("plain", "stream"):
        r, b = report.get("router", mode, conc, home), report.get("bare", mode, conc, home)
        if r and b and b.load.rps:
            ratio = r.load.rps / b.load.rps
            name = f"router/bare req/s, {mode}, c={conc}"
            out.append(Target(name, f"{ratio:.2f}x", ">= 0.60x", ratio >= 0.6))
    for mode in ("plain", "stream"):
        for cpus in (1, 2):
            r, d, b = (report.get(t, mode, 1, cpus) for t in ("router", "direct", "bare"))
            if not (r and d and b):
                continue
            added = r.load.p50_ms - d.load.p50_ms
            value = f"{added:.3f} ms (bare {b.load.p50_ms - d.load.p50_ms:.3f})"
            name = f"added p50 c=1, {mode}, {cpus} cpu{'s' if cpus > 1 else ''} (router-direct)"
            out.append(Target(name, value, "<= 0.300 ms", added <= 0.3))
    out.append(Target("router idle RSS", f"{idle_rss_mb:.1f} MB", "<= 60 MB", idle_rss_mb <= 60))
    out.append(Target("router start -> healthy", f"{start_s:.3f} s", "<= 1.000 s", start_s <= 1.0))
    t = next(
        (m for m in report.measurements if (m.target, m.mode) == ("translated", "paced")), None
    )
    p = next((m for m in report.measurements if (m.target, m.mode) == ("router", "paced")), None)
    name = "translated/passthrough router CPU per stream"
    if t and p and t.cpu_us_per_req and p.cpu_us_per_req:
        ratio = t.cpu_us_per_req / p.cpu_us_per_req
        out.append(Target(name, f"{ratio:.2f}x", "<= 1.30x", ratio <= 1.3))
    else:
        out.append(Target(name, f"n/a ({n_a or 'not measured'})", "<= 1.30x", None))
    return out
