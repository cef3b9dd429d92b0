"""The scrubber: linear in its input, bounded output, secrets masked by shape and by value;
and every line a service writes is one JSON object, tracebacks included."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from suite.logging import CLIENT_TEXT_LIMIT, clip, redact
from suite.secrets import MIN_SECRET_LENGTH, SECRETS, SecretRegistry

ROOT = Path(__file__).resolve().parents[2]

# Inputs that made (or could make) a backtracking pattern rescan the same run from
# every start: n is the size in characters.
SHAPES: dict[str, Callable[[int], str]] = {
    "eyJ repeated": lambda n: "eyJ" * (n // 3),
    "eyJ after a JWT head": lambda n: "eyJaaaaaaaaaaaa." + "eyJ" * (n // 3),
    "eyJ with short parts": lambda n: "eyJabcdefghijkl.x" * (n // 17),
    "sk- then dashes": lambda n: "sk-" + "-" * n,
    "sk- too short, repeated": lambda n: "sk-1234567 " * (n // 11),
    "Bearer then token": lambda n: "Bearer " + "a" * n,
    "Bearer then spaces": lambda n: "Bearer" + " " * n + "x",
    "bearer repeated": lambda n: "bearer " * (n // 7),
    "?key= then value": lambda n: "?key=" + "k" * n,
    "?key= empty, repeated": lambda n: "?key=&" * (n // 6),
    "AIza repeated": lambda n: "AIza" * (n // 4),
    "every prefix": lambda n: "eyJabc.sk-x AIza Bearer  ?token=" * (n // 32),
}
SMALL, MID, LARGE = 10_000, 100_000, 1_000_000
RATIO = 15  # linear: about 10 for ten times the input; quadratic: about 100


class _TooSlow(Exception):
    pass


@contextlib.contextmanager
def _cpu_deadline(seconds: float) -> Iterator[None]:
    """Interrupt the scrubber (the regex engine checks signals) once it has used
    ``seconds`` of CPU time."""

    def fire(*_: object) -> None:
        raise _TooSlow

    old = signal.signal(signal.SIGVTALRM, fire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, old)


def _best_of(text: str, repeats: int = 5) -> float:
    """CPU seconds of the fastest of ``repeats`` runs: this thread's CPU time, so other
    processes on a busy machine do not count, and the best run, so neither does a
    cache they cooled."""
    best = float("inf")
    for _ in range(repeats):
        started = time.thread_time()
        redact(text)
        best = min(best, time.thread_time() - started)
    return best


@pytest.mark.parametrize("shape", SHAPES)
def test_scrubbing_time_is_linear_in_the_input(shape: str) -> None:
    """Ten times the input costs about ten times the time, not a hundred.

    Each size is measured as the best of five runs in CPU time, and is cut short (a
    failure) once it has used RATIO times the previous size's time: a quadratic scrubber
    fails in about a second instead of running for minutes on a megabyte.
    """
    make = SHAPES[shape]
    times = [_best_of(make(SMALL))]
    for size, name in ((MID, "100 KB"), (LARGE, "1 MB")):
        text = make(size)
        budget = RATIO * times[-1] * 5 + 0.5  # five runs, plus room for the interpreter
        try:
            with _cpu_deadline(budget):
                times.append(_best_of(text))
        except _TooSlow:
            pytest.fail(f"{shape}: scrubbing {name} took over {RATIO}x the time of 1/10 of it")
    ratio = times[2] / times[1]
    assert ratio < RATIO, f"{shape}: 1 MB took {ratio:.0f}x the time of 100 KB"


def test_shapes_are_masked() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
    text = (
        f"token {jwt} key sk-abcdefghijkl google AIzaSyA12345678901234567890123"
        " auth Bearer abc.def-ghij url https://x/y?a=1&key=topsecret&b=2"
    )
    out = redact(text)
    for secret in (jwt, "sk-abcdefghijkl", "AIzaSyA1234567890", "abc.def-ghij", "topsecret"):
        assert secret not in out
    assert "&key=[redacted]&b=2" in out
    assert out.startswith("token [redacted] key [redacted]")


def test_what_the_rewrite_keeps_and_finds() -> None:
    # Ordinary words and short look-alikes stay.
    assert redact("sk-short eyJshort Bearer abc ?key=") == "sk-short eyJshort Bearer abc ?key="
    # A run that starts like a JWT but is not one: the keys inside it are still found.
    assert redact("eyJaaaaaaaaaaaaasdsk-abcdefghij") == "eyJaaaaaaaaaaaaasd[redacted]"
    assert redact("eyJab.eyJaaaaaaaaaa.bbbbbbbbbb.c") == "eyJab.[redacted]"


def test_clip_bounds_and_still_masks_a_secret_cut_by_the_bound() -> None:
    registry_before = SECRETS.values()
    secret = "plain-value-no-prefix-" + "x" * 300
    SECRETS.set("test-clip", [secret])
    try:
        text = "a" * (CLIENT_TEXT_LIMIT - 60) + secret + "b" * 5000
        out = clip(text)
        assert len(out) <= CLIENT_TEXT_LIMIT
        assert out.endswith(f"…[cut, {len(text)} chars]")
        assert "plain-value" not in out and "[redacted]" in out
        assert clip("short") == "short"
    finally:
        SECRETS.discard("test-clip")
    assert SECRETS.values() == registry_before


def test_registry_masks_by_value_and_skips_short_values() -> None:
    reg = SecretRegistry()
    reg.set("config", ["upstream-key-0001", "short", "x" * (MIN_SECRET_LENGTH - 1)])
    assert reg.values() == {"upstream-key-0001"}
    assert reg.redact("Incorrect API key provided: upstream-key-0001.") == (
        "Incorrect API key provided: [redacted]."
    )
    long_text = "y" * 2000 + "upstream-key-0001" + "z" * 2000  # the long-text path
    assert "upstream-key-0001" not in reg.redact(long_text)
    assert reg.redact_bytes(b'{"m": "upstream-key-0001"}') == b'{"m": "[redacted]"}'
    # Longest first: a value that contains another goes whole.
    reg.add("credential:a", ["upstream-key-0001-and-more"])
    assert reg.redact("upstream-key-0001-and-more!") == "[redacted]!"
    reg.discard("credential:a")
    reg.set("config", [])
    assert reg.values() == frozenset() and reg.redact("upstream-key-0001") == "upstream-key-0001"


_SERVICE = textwrap.dedent(
    """
    import asyncio, logging, threading, warnings
    from aiohttp import web
    from suite.logging import get_logger, setup_logging

    setup_logging("logtest")

    async def boom(request):
        raise RuntimeError("handler failed\\nsecond line Bearer sk-abcdefghijklmnop")

    async def fail():
        raise ValueError("nobody awaited me")

    async def main():
        app = web.Application()
        app.router.add_get("/boom", boom)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /boom HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
        await writer.drain()
        await reader.read()
        writer.close()
        try:
            raise KeyError("caught")
        except KeyError:
            logging.getLogger("aiohttp.server").exception("Error handling request")
        task = asyncio.get_running_loop().create_task(fail())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        del task
        import gc; gc.collect()
        get_logger("x").error("structlog line", detail="multi\\nline")
        await runner.cleanup()

    asyncio.run(main())
    warnings.warn("a warning", UserWarning)
    t = threading.Thread(target=lambda: 1 / 0, name="worker")
    t.start(); t.join()
    raise SystemError("uncaught at the top\\nwith a newline")
    """
)


def test_every_line_a_service_writes_is_json(tmp_path: Path) -> None:
    """aiohttp's own errors, asyncio's unretrieved task exception, warnings and uncaught
    exceptions (main thread and another) come out as JSON lines, tracebacks in a field."""
    script = tmp_path / "service.py"
    script.write_text(_SERVICE)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line[:200]!r}")
    by_logger = {e.get("logger"): e for e in events}
    handler = [e for e in events if e["event"].startswith("Error handling request")]
    assert len(handler) == 2, events  # aiohttp's own record, then ours
    assert "RuntimeError: handler failed" in handler[0]["exception"]
    assert "sk-abcdefghijklmnop" not in proc.stdout and "second line [redacted]" in proc.stdout
    assert "Task exception was never retrieved" in by_logger["asyncio"]["event"]
    assert "nobody awaited me" in by_logger["asyncio"]["exception"]
    assert "a warning" in by_logger["py.warnings"]["event"]
    uncaught = [e for e in events if e.get("logger") == "uncaught"]
    assert [e["level"] for e in uncaught] == ["critical", "critical"]
    assert "ZeroDivisionError" in uncaught[0]["exception"]
    assert "uncaught at the top\nwith a newline" in uncaught[1]["exception"]
    assert all(e["service"] == "logtest" for e in events)
    assert any(e["event"] == "structlog line" and e["detail"] == "multi\nline" for e in events)
