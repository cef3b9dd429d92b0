"""Run one fake upstream in the foreground (benchmarks, supervised suites).

    python -m tests.fakes {anthropic,openai,gemini} --port N [--key K]
        [--text T] [--chunks N]

Prints ``ready http://127.0.0.1:N`` on stdout once listening and serves
until SIGTERM or SIGINT. Requests are not recorded (a benchmark would
otherwise grow memory without bound).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
from collections.abc import Sequence

from ._base import FakeServer
from ._behaviours import Reply
from .anthropic import FakeAnthropic
from .gemini import FakeGemini
from .openai import FakeOpenAI

_FAKES: dict[str, type[FakeServer]] = {
    "anthropic": FakeAnthropic,
    "openai": FakeOpenAI,
    "gemini": FakeGemini,
}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes", description=__doc__.splitlines()[0]
    )
    parser.add_argument("provider", choices=sorted(_FAKES))
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--key", action="append", default=[], help="accepted API key (repeatable; none: any)"
    )
    parser.add_argument("--text", default="Hello from fake", help="answer text")
    parser.add_argument(
        "--chunks", type=int, default=None, help="stream deltas (default: per word)"
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = _FAKES[args.provider](tuple(args.key), port=args.port)
    fake.default = Reply(text=args.text, chunks=args.chunks)
    fake.record_requests = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with fake:
        print(f"ready http://{fake.host}:{fake.port}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parse(argv)
    try:
        # uvloop on the benchmark path: measure the router, not the fake.
        uvloop_run = importlib.import_module("uvloop").run
    except ImportError:  # pragma: no cover - uvloop is a declared dependency
        uvloop_run = asyncio.run
    try:
        uvloop_run(_serve(args))
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
