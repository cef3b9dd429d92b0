"""``python -m bench [--quick] [--profile]``: the router beside a bare relay and the fake itself.

One run starts a fake upstream, a bare aiohttp relay and the router twice
(access log at ``info``, the default, and at ``warning``), all on 127.0.0.1,
then measures each side by side: plain and streaming (50 chunks) at
concurrency 1 (added latency) and at a saturating concurrency; a paced
stream (one event per ms, so every event is relayed on its own) for the CPU
cost per stream; and the translated path (OpenAI client → Anthropic
upstream), shown as n/a while the router answers it with 501. Then the agent
rows (``_agent.py``, ``--agent-only`` for them alone): the captured Claude Code
turn and the session grown to ~500 KB, passthrough and translated beside the
bare relay, and 1,000 concurrent slow streams. It prints the tables, the
ratios, the router's memory and start time, and the issues' targets. This is
a measurement, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from ._agent import AgentResult, run_agent
from ._agent_profile import profile_agent
from ._agent_report import agent_table, streams_table
from ._fixture import AgentTurn, load_turn
from ._load import LoadSpec, have_wrk, run_load
from ._procs import CLIENT_CPU, PINNING, SERVER_CPU, Service, free_port, pin_to, python_argv
from ._profile import find_py_spy, parse, start_py_spy
from ._report import Measurement, Report, format_targets
from ._run import Options, Run
from ._run import url as _url
from ._setup import bodies, preflight, write_router_config
from ._targets import evaluate, evaluate_agent
from .streams import raise_nofile

LABELS = {
    "direct": "fake upstream (direct)",
    "bare": "bare aiohttp relay",
    "router": "router (log info)",
    "router-warn": "router (log warning)",
    "router-off": "router (no usage/metrics)",
    "translated": "router translated",
}


def _paced(body: bytes) -> bytes:
    obj = orjson.loads(body)
    return orjson.dumps({**obj, "model": f"{obj['model']}-paced"})


ROUTERS = ("router", "router-warn", "router-off")


def start_services(
    workdir: Path, opts: Options, chunks: int, services: dict[str, Service]
) -> dict[str, float]:
    """Start everything into ``services``, one after the other; the routers' idle RSS.
    With ``agent_only`` only the default router (the agent rows use no other)."""
    fake_port, bare_port = free_port(), free_port()
    fake = Service(
        "fake",
        python_argv("bench.fake_upstream", "--port", str(fake_port), "--chunks", str(chunks),
                    "--slow-seconds", f"{opts.stream_seconds:g}"),
        fake_port, CLIENT_CPU, workdir / "fake.log",
    )  # fmt: skip
    bare = Service(
        "bare",
        python_argv("bench.bare_relay", "--port", str(bare_port), "--upstream", f"http://127.0.0.1:{fake_port}"),
        bare_port, SERVER_CPU, workdir / "bare.log",
    )  # fmt: skip
    idle: dict[str, float] = {}
    for svc in (fake, bare):
        services[svc.name] = svc
        svc.start()
    for name, level, observe in (
        ("router", "info", True),
        ("router-warn", "warning", True),
        ("router-off", "info", False),
    ):
        if opts.agent_only and name != "router":
            continue
        port = free_port()
        cfg = write_router_config(workdir / f"{name}.yaml", port, fake_port, level, observe)
        argv = python_argv("router", "serve", "--config", str(cfg))
        svc = Service(name, argv, port, SERVER_CPU, workdir / f"{name}.log")
        services[name] = svc
        svc.start()
        time.sleep(0.5)
        idle[name] = svc.rss_mb()
    return idle


def check_paths(services: dict[str, Service], plain: bytes, stream: bytes) -> None:
    for name in ("fake", "bare", *(r for r in ROUTERS if r in services)):
        for body, is_stream in ((plain, False), (stream, True), (_paced(stream), True)):
            ok, why = preflight(_url(services[name]), body, is_stream)
            if not ok:
                raise SystemExit(f"bench: {name} does not answer correctly ({why}); see its log")


def measure_all(run: Run, on_row: Callable[[Measurement], None]) -> str | None:
    """Every row of the table, best of ``rounds``; why the translated path is n/a, or None."""
    b = bodies()
    conc = run.opts.concurrency
    home = 2 if PINNING else 1
    c1 = (1, 2) if PINNING else (1,)
    plan = [("plain", b.plain, 1, n) for n in c1] + [("plain", b.plain, conc, home)]
    plan += [("stream", b.stream, 1, n) for n in c1] + [("stream", b.stream, conc, home)]
    plan.append(("paced", _paced(b.stream), run.opts.paced_concurrency, home))
    if run.opts.plain_only:
        plan = [p for p in plan if p[0] == "plain"]
    ok, reason = preflight(_url(run.services["router"]), b.translated, True)
    translated = [
        ("stream", b.translated, 1, 1),
        ("stream", b.translated, conc, home),
        ("paced", _paced(b.translated), run.opts.paced_concurrency, home),
    ]
    for _ in range(run.opts.rounds):
        for mode, body, c, cpus in plan:
            on_row(run.measure("direct", "fake", body, mode, c, cpus))
            for target in ("bare", "router", "router-warn"):
                on_row(run.measure(target, target, body, mode, c, cpus))
            if mode == "plain":  # what usage recording and metrics cost (issue 8)
                on_row(run.measure("router-off", "router-off", body, mode, c, cpus))
        for mode, body, c, cpus in translated if ok and not run.opts.plain_only else []:
            on_row(run.measure("translated", "router", body, mode, c, cpus))
    return None if ok else str(reason)


def profile_router(run: Run, exe: str) -> list[str]:
    """py-spy on the router (log info) under each load; the translated path when it answers."""
    b = bodies()
    conc, paced = run.opts.concurrency, run.opts.paced_concurrency
    loads = [
        ("plain", b.plain, conc),
        ("stream", b.stream, conc),
        ("paced", _paced(b.stream), paced),
    ]
    router = run.services["router"]
    if preflight(_url(router), b.translated, True)[0]:
        loads.append(("translated stream", b.translated, conc))
    out = []
    for label, body, c in loads:
        raw = run.workdir / f"profile-{label.replace(' ', '-')}.txt"
        spy = start_py_spy(exe, router.pid, run.opts.profile, raw)
        time.sleep(0.3)
        stream = label != "plain"
        spec = LoadSpec(_url(router), body, c, run.opts.profile + 1, run.opts.count, stream)
        run_load(spec, run.workdir, run.opts.tool, pin_to(CLIENT_CPU))
        _, err = spy.communicate(timeout=run.opts.profile + 30)
        if not raw.exists():
            out.append(f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}")
            continue
        out.append(parse(raw.read_text()).render(f"router (log info), {label} c={c}"))
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="one round of 2 s measurements")
    p.add_argument("--seconds", type=float, help="seconds per measurement (default 4)")
    p.add_argument("--rounds", type=int, help="repeat the matrix, keep each row's best (default 2)")
    p.add_argument("-c", "--concurrency", type=int, default=64, help="the saturating concurrency")
    p.add_argument("--paced-concurrency", type=int, default=16)
    p.add_argument("--chunks", type=int, default=50, help="content chunks per stream")
    p.add_argument("--count", type=int, default=500_000, help="at most this many requests per row")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument(
        "--keep", action="store_true", help="keep the temp dir (logs, configs, profiles)"
    )
    p.add_argument(
        "--profile",
        type=float,
        nargs="?",
        const=8.0,
        default=0.0,
        metavar="SECONDS",
        help="then profile the router with py-spy under each load (default 8 s each)",
    )
    p.add_argument("--profile-only", action="store_true", help="skip the table, only profile")
    p.add_argument(
        "--plain-only",
        action="store_true",
        help="only the plain rows (e.g. usage+metrics on/off: --plain-only --rounds 5)",
    )
    agent = p.add_mutually_exclusive_group()
    agent.add_argument(
        "--agent-only",
        action="store_true",
        help="only the agent rows: the Claude Code turn and the grown session, the slow streams",
    )
    agent.add_argument("--no-agent", action="store_true", help="skip the agent rows")
    p.add_argument("--agent-concurrency", type=int, default=8, help="of the big-body rows")
    p.add_argument(
        "--streams", type=int, default=1000, help="concurrent slow streams (0: skip that row)"
    )
    p.add_argument("--stream-seconds", type=float, default=20.0, help="length of a slow stream")
    p.add_argument(
        "--stream-ramp", type=float, default=2.0, help="start the slow streams over this long"
    )
    p.add_argument(
        "--upstream-connections",
        type=int,
        default=0,
        metavar="N",
        help="the streams row's providers get max_connections N (default: the router's own)",
    )
    return p.parse_args(argv)  # fmt: skip


def _options(args: argparse.Namespace) -> Options:
    tool = ("wrk" if have_wrk() else "python") if args.client == "auto" else args.client
    return Options(
        seconds=args.seconds or (2.0 if args.quick else 4.0),
        warmup=1.0,
        concurrency=args.concurrency,
        paced_concurrency=args.paced_concurrency,
        count=args.count,
        tool=tool,
        profile=args.profile or (8.0 if args.profile_only else 0.0),
        rounds=args.rounds or (1 if args.quick else 2),
        plain_only=args.plain_only,
        agent=not (args.no_agent or args.plain_only or (args.profile_only and not args.agent_only)),
        agent_only=args.agent_only,
        agent_concurrency=args.agent_concurrency,
        streams=max(0, min(args.streams, 10_000)),
        stream_seconds=args.stream_seconds,
        stream_ramp=max(0.0, args.stream_ramp),
        upstream_connections=max(0, args.upstream_connections),
    )


def _banner(opts: Options, workdir: Path) -> None:
    hint = "" if opts.tool == "wrk" else " (install Debian's wrk for more headroom)"
    print(f"bench: load generator {opts.tool}{hint}")
    print(
        f"bench: CPU {SERVER_CPU} = process under test, CPU {CLIENT_CPU} = load generator + fake upstream"
        if PINNING else "bench: fewer than 2 CPUs, nothing pinned"
    )  # fmt: skip
    print(
        f"bench: {opts.rounds} round(s) of {opts.seconds:g} s measurements after {opts.warmup:g} s"
        f" warm-up, best kept; work dir {workdir} (kept on failure or with --keep)"
    )


def _progress(m: Measurement) -> None:
    print(
        f"  {m.mode} c={m.concurrency} cpus={m.cpus} {m.target}: {m.load.rps:.0f} req/s", flush=True
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    opts = _options(args)
    workdir = Path(tempfile.mkdtemp(prefix="cliproxy-bench-"))
    pin_self = pin_to(CLIENT_CPU)
    if pin_self is not None:
        pin_self()  # this orchestrator (RSS sampling, preflight) stays off the server CPU
    turn = load_turn() if opts.agent else None  # fails here, clearly, if the capture is missing
    if opts.agent and opts.streams:
        # each stream: a client socket here, two in the router, one in the fake
        raise_nofile(4 * opts.streams + 1024)
    _banner(opts, workdir)
    services: dict[str, Service] = {}
    agent: AgentResult | None = None
    try:
        idle = start_services(workdir, opts, args.chunks, services)
        b = bodies()
        check_paths(services, b.plain, b.stream)
        run = Run(opts, workdir, services, Report())
        small = not (args.profile_only or opts.agent_only)
        n_a = measure_all(run, _progress) if small else None
        if turn is not None and not args.profile_only:
            agent = run_agent(run, turn, _progress)
        idle_after = services["router"].rss_mb()
        profiles: list[str] = []
        if opts.profile:
            exe = find_py_spy()
            if exe is None:
                profiles = ["py-spy not found: pip install py-spy"]
            elif opts.agent_only and turn is not None:
                profiles = profile_agent(run, turn, exe)
            else:
                profiles = profile_router(run, exe)
    finally:
        for svc in reversed(services.values()):
            svc.stop()
    if small:
        _results(run, idle, idle_after, n_a)
    if agent is not None and turn is not None:
        _agent_results(agent, opts, turn)
    for text in profiles:
        print("\n" + text)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _results(run: Run, idle: dict[str, float], idle_after: float, n_a: str | None) -> None:
    print()
    print(run.report.table(LABELS))
    print("\n(paced: each of the 50 events is relayed alone, one per ms; compare cpu us/req)")
    if n_a is not None:
        print(f"router translated (OpenAI client -> Anthropic upstream): n/a ({n_a})")
    start = {n: run.services[n].start_seconds for n in ("router", "router-warn")}
    print("\n" + _facts(run.report, idle, idle_after, start))
    print("\ntargets (issues 2, 3 and 8):")
    home = 2 if PINNING else 1
    conc = run.opts.concurrency
    targets = evaluate(run.report, idle["router"], start["router"], conc, home, n_a)
    print(format_targets(targets))


def _agent_results(agent: AgentResult, opts: Options, turn: AgentTurn) -> None:
    print()
    print(agent_table(agent.report, agent.bodies, opts.agent_concurrency, agent.skipped))
    if agent.streams:
        table = streams_table(
            agent.streams, opts.stream_seconds, opts.stream_ramp, opts.upstream_connections
        )
        print("\n" + table)
    print("\ntargets (issue 14):")
    print(format_targets(evaluate_agent(agent.report, agent.bodies, agent.streams, agent.skipped)))
    if opts.agent_only:
        print(
            "  [n/a ] small-body router/bare req/s (plain >= 0.63x, stream >= 0.73x): "
            "not measured with --agent-only"
        )


def _facts(
    report: Report, idle: dict[str, float], idle_after: float, start: dict[str, float]
) -> str:
    peak = max((m.peak_rss_mb or 0.0) for m in report.measurements if m.target == "router")
    return "\n".join([
        f"router start -> healthy: {start['router']:.3f} s (log info), {start['router-warn']:.3f} s (log warning)",
        f"router RSS: idle {idle['router']:.1f} MB, peak under load {peak:.1f} MB, idle after load {idle_after:.1f} MB",
    ])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
