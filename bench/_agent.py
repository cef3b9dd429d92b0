"""The rows of real agent traffic: big Anthropic bodies, and many slow streams at once.

Small "hi" bodies hide what an agent client costs: the captured Claude Code turn
is 86 KB and a long session passes 500 KB (``_fixture.py``). Each body is sent
streaming by an Anthropic client (``/v1/messages?beta=true`` with the capture's
headers) at a small concurrency to three targets, one after the other in each
round so that they share the machine's mood:

* the bare relay (to the fake's ``/v1/messages``): the floor;
* the router, **passthrough**: model ``bench-claude``, an ``anthropic`` provider
  at the fake (same format in and out, only model and credential change);
* the router, **translated**: model ``bench-model``, an ``openai-compatible``
  provider at the fake (Anthropic request to Chat Completions and the stream back).

Each row keeps its round with the least CPU per request of the process under
test (interference only adds). Then one row per body of ``streams`` slow
streams held open together (the fake's ``-slow`` models: one event per 100 ms
for 20 s) through a router started for that row alone, whose RSS is sampled
while they run, and whose ``/healthz`` is timed meanwhile.
"""

from __future__ import annotations

import http.client
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from ._agent_report import StreamsRow
from ._fixture import AgentTurn, grow
from ._procs import CLIENT_CPU, PINNING, SERVER_CPU, OtherCPU, PeakRSS, Service, free_port, pin_to
from ._procs import python_argv as _argv
from ._report import Measurement, Report
from ._run import Run, url
from ._setup import PASSTHROUGH_MODEL, TRANSLATED_MODEL, preflight, write_router_config

__all__ = [
    "AgentBody",
    "AgentResult",
    "agent_bodies",
    "check_agent_paths",
    "measure_agent",
    "measure_streams",
    "run_agent",
    "small_slow_body",
]

# For an Anthropic client the roles of the bench's two models swap: bench-claude goes to
# the anthropic provider (passthrough), bench-model to the openai-compatible one.
_PASS_MODEL = TRANSLATED_MODEL
_TRANS_MODEL = PASSTHROUGH_MODEL
_SMALL_PROMPT = "Write a long answer, one short line per event."


@dataclass(frozen=True, slots=True)
class AgentBody:
    label: str  # what the table calls it
    mode: str  # the Report's row key
    passthrough: bytes
    translated: bytes

    @property
    def size(self) -> int:
        return len(self.passthrough)


def _with_model(body: dict[str, object], model: str) -> bytes:
    return orjson.dumps({**body, "model": model, "stream": True})


def agent_bodies(turn: AgentTurn) -> list[AgentBody]:
    """The capture as it is, and the session grown to about 500 KB."""
    out = []
    for mode, name, body in (
        ("cc-turn", "Claude Code turn", turn.body),
        ("cc-grown", "grown session", grow(turn.body)),
    ):
        raw = _with_model(body, _PASS_MODEL)
        label = f"{name}, {len(raw) / 1000:.0f} KB"
        out.append(AgentBody(label, mode, raw, _with_model(body, _TRANS_MODEL)))
    return out


def check_agent_paths(run: Run, turn: AgentTurn, bodies: list[AgentBody]) -> dict[str, str]:
    """One request per target and body; the targets that fail, with why (n/a in the table)."""
    failed: dict[str, str] = {}
    for b in bodies:
        for target, svc, body in (
            ("bare", "bare", b.passthrough),
            ("passthrough", "router", b.passthrough),
            ("translated", "router", b.translated),
        ):
            ok, why = preflight(url(run.services[svc], turn.path), body, True, anthropic=True)
            if not ok and target not in failed:
                failed[target] = f"{b.label}: {why}"
    return failed


def measure_agent(
    run: Run,
    turn: AgentTurn,
    bodies: list[AgentBody],
    skip: dict[str, str],
    on_row: Callable[[Measurement], None],
) -> None:
    """Every agent row, ``rounds`` times, targets of one body back to back."""
    conc, home = run.opts.agent_concurrency, 2 if PINNING else 1
    for _ in range(run.opts.rounds):
        for b in bodies:
            for target, svc, body in (
                ("bare", "bare", b.passthrough),
                ("passthrough", "router", b.passthrough),
                ("translated", "router", b.translated),
            ):
                if target in skip:
                    continue
                m = run.measure(target, svc, body, b.mode, conc, home, turn.path, turn.headers)
                on_row(m)


# -- many slow streams ------------------------------------------------------------


class _HealthProbe:
    """``GET /healthz`` once a second in a thread: the slowest answer and the failures."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.max_ms = 0.0
        self.failures = 0

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                ok = conn.getresponse().status == 200
            except OSError:
                ok = False
            finally:
                conn.close()
            self.max_ms = max(self.max_ms, (time.perf_counter() - t0) * 1000)
            self.failures += 0 if ok else 1

    def __enter__(self) -> _HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def small_slow_body() -> bytes:
    return orjson.dumps(
        {
            "model": f"{_PASS_MODEL}-slow",
            "max_tokens": 1024,
            "stream": True,
            "messages": [{"role": "user", "content": _SMALL_PROMPT}],
        }
    )


def measure_streams(run: Run, turn: AgentTurn, label: str, body: bytes) -> StreamsRow:
    """``streams`` slow streams through a router of their own (a fresh process, so its
    RSS is this load's and not the big bodies' before it), Anthropic passthrough."""
    n = run.opts.streams
    row = StreamsRow(label, n)
    name = f"router-streams-{len(body)}"
    port = free_port()
    cfg = write_router_config(
        run.workdir / f"{name}.yaml", port, run.services["fake"].port, "info",
        upstream_connections=run.opts.upstream_connections,
    )  # fmt: skip
    router = Service(
        name, _argv("router", "serve", "--config", str(cfg)), port, SERVER_CPU,
        run.workdir / f"{name}.log",
    )  # fmt: skip
    body_file = run.workdir / f"{name}-body.json"
    body_file.write_bytes(body)
    deadline = run.opts.stream_seconds * 2 + 30
    cmd = _argv(
        "bench.streams", "--url", url(router, turn.path), "--body-file", str(body_file),
        "-n", str(n), "--deadline", f"{deadline:g}", "--ramp", f"{run.opts.stream_ramp:g}",
    )  # fmt: skip
    for k, v in turn.headers:
        cmd += ["-H", f"{k}: {v}"]
    try:
        router.start()
        time.sleep(0.5)
        row.idle_mb = router.rss_mb()
        cpu0 = router.cpu_seconds()
        with PeakRSS(router, every=0.2) as rss, OtherCPU() as other, _HealthProbe(port) as health:
            out = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=deadline + 30,
                preexec_fn=pin_to(CLIENT_CPU),
                check=False,
                cwd=Path(__file__).resolve().parent.parent,
            )
        row.peak_mb, row.other_pct = rss.peak_mb, other.percent
        row.health_max_ms, row.health_failures = health.max_ms, health.failures
        alive = router.alive()
        row.cpu_s = router.cpu_seconds() - cpu0 if alive else 0.0
        if out.returncode != 0:
            row.failure = f"bench.streams failed ({out.returncode}): {out.stderr.strip()[-400:]}"
        else:
            row.summary = orjson.loads(out.stdout.strip().splitlines()[-1])
        if not alive:
            row.failure = f"the router exited during the run; see {router.log}"
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        row.failure = f"{type(exc).__name__}: {exc}"
    finally:
        router.stop()
    print(f"  {n} slow streams, {label}: {_short(row)}", flush=True)
    return row


def _short(row: StreamsRow) -> str:
    if row.failure:
        return row.failure
    return f"{row.summary.get('ok')} ok, {row.errors} errors, peak RSS {row.peak_mb:.0f} MB"


@dataclass(frozen=True, slots=True)
class AgentResult:
    report: Report
    bodies: list[tuple[str, str]]  # (mode, label), in table order
    skipped: dict[str, str]  # target -> why it was not measured
    streams: list[StreamsRow]


def run_agent(run: Run, turn: AgentTurn, on_row: Callable[[Measurement], None]) -> AgentResult:
    """All the agent rows on ``run``'s services, into a report of their own."""
    agent = Run(run.opts, run.workdir, run.services, Report(best="cpu"))
    bodies = agent_bodies(turn)
    skipped = check_agent_paths(agent, turn, bodies)
    for target, why in skipped.items():
        print(f"  agent rows, {target}: n/a ({why})", flush=True)
    measure_agent(agent, turn, bodies, skipped, on_row)
    streams: list[StreamsRow] = []
    if run.opts.streams > 0:
        small = small_slow_body()
        turn_body = _with_model(turn.body, f"{_PASS_MODEL}-slow")
        streams.append(measure_streams(agent, turn, f"small, {len(small)} B", small))
        label = f"Claude Code turn, {len(turn_body) / 1000:.0f} KB"
        streams.append(measure_streams(agent, turn, label, turn_body))
    return AgentResult(agent.report, [(b.mode, b.label) for b in bodies], skipped, streams)
