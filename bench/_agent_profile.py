"""py-spy on the router under the agent loads (``python -m bench --agent-only --profile``).

The small-body profiles (``_profile``) show the per-request overhead; these show
what a big body costs: the Claude Code turn and the grown session, passthrough
and translated, each under the same c=8 load as its agent row. py-spy samples
from outside (``--nonblocking``), so the figures are shares of the router's busy
samples, not absolute times.
"""

from __future__ import annotations

import time

from ._agent import AgentBody, agent_bodies
from ._fixture import AgentTurn
from ._load import LoadSpec, run_load
from ._procs import CLIENT_CPU, pin_to
from ._profile import parse, start_py_spy
from ._run import Run, url

__all__ = ["profile_agent"]


def profile_agent(run: Run, turn: AgentTurn, exe: str) -> list[str]:
    """One profile per body and path (4 in all), ``run.opts.profile`` seconds each."""
    router = run.services["router"]
    out: list[str] = []
    loads: list[tuple[str, AgentBody, bytes]] = []
    for b in agent_bodies(turn):
        loads += [(f"{b.label} passthrough", b, b.passthrough)]
        loads += [(f"{b.label} translated", b, b.translated)]
    for label, _, body in loads:
        raw = run.workdir / f"profile-agent-{len(out)}.txt"
        spy = start_py_spy(exe, router.pid, run.opts.profile, raw)
        time.sleep(0.3)
        spec = LoadSpec(
            url(router, turn.path),
            body,
            run.opts.agent_concurrency,
            run.opts.profile + 1,
            run.opts.count,
            True,
            turn.headers,
        )
        run_load(spec, run.workdir, run.opts.tool, pin_to(CLIENT_CPU))
        _, err = spy.communicate(timeout=run.opts.profile + 30)
        if not raw.exists():
            out.append(f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}")
            continue
        text = parse(raw.read_text()).render(f"router, {label} c={run.opts.agent_concurrency}", 20)
        out.append(text)
    return out
