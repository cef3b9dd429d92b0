"""The fake upstream's ``-slow`` pacing, read by the bench's many-streams client."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from bench._procs import free_port
from bench.streams import run

ROOT = Path(__file__).resolve().parents[2]
SLOW_MS = 25
SLOW_SECONDS = 0.5
EVENTS = 20  # SLOW_SECONDS / SLOW_MS: the Anthropic stream is exactly that many events


@pytest.fixture(scope="module")
def fake() -> Iterator[int]:
    port = free_port()
    argv = [
        sys.executable, "-m", "bench.fake_upstream", "--port", str(port),
        "--slow-ms", str(SLOW_MS), "--slow-seconds", str(SLOW_SECONDS),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
            finally:
                conn.close()
        else:
            pytest.fail("the fake upstream did not come up within 20 s")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _body(model: str) -> bytes:
    return orjson.dumps(
        {"model": model, "max_tokens": 64, "stream": True,
         "messages": [{"role": "user", "content": "hi"}]}
    )  # fmt: skip


async def test_slow_model_streams_one_event_per_interval(fake: int) -> None:
    url = f"http://127.0.0.1:{fake}/v1/messages"
    stats = await run(url, _body("bench-claude-slow"), 20, deadline=30)
    assert stats.errors == {} and stats.ok == 20
    assert stats.events == [EVENTS] * 20
    # The pacer only ever runs late, never early: a stream cannot end sooner than its
    # events' spacing allows (the unpaced stream of the same fake takes milliseconds).
    assert min(stats.seconds) >= (EVENTS - 1) * SLOW_MS / 1000


async def test_unpaced_model_is_not_slow(fake: int) -> None:
    url = f"http://127.0.0.1:{fake}/v1/messages"
    stats = await run(url, _body("bench-claude"), 5, deadline=30)
    assert stats.ok == 5 and stats.events[0] > EVENTS  # 50 content events and framing


async def test_streams_still_open_at_the_deadline_are_cut_and_counted(fake: int) -> None:
    url = f"http://127.0.0.1:{fake}/v1/messages"
    t0 = time.monotonic()
    stats = await run(url, _body("bench-claude-slow"), 10, deadline=0.1)
    assert time.monotonic() - t0 < 5
    assert stats.ok == 0 and stats.errors == {"still open at the deadline": 10}
