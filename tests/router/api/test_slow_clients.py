"""Clients that hold the router's connections: slow heads, huge heads, idle sockets, floods,
slow bodies (``server.limits``, router/_server.py).

Raw sockets on loopback against a running router; while each attack runs, a thread
checks that ``/healthz`` answers within 100 ms.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from suite.config import ConfigError, parse_config
from tests.conftest import HealthWatch, RunningRouter, StartRouter, build_config

ROOT = Path(__file__).resolve().parents[3]

HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _config(**limits: Any) -> Any:
    return build_config({}, [], server={"limits": limits})


async def _until_closed(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed; ``within`` bounds
    the wait (a server that never closes fails the test instead of hanging it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    data = b""
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"the router kept the connection open for {within} s")
        try:
            chunk = await asyncio.wait_for(reader.read(65536), left)
        except ConnectionError:
            chunk = b""
        if not chunk:
            return data, loop.time()
        data += chunk


def _open_connections(router: RunningRouter) -> int:
    """Connections the router counts as open (aiohttp's plain server: all it knows of)."""
    runner = router.server.runner
    assert runner is not None and runner.server is not None
    counted = getattr(runner.server, "open_connections", None)
    return len(runner.server.connections) if counted is None else int(counted)


async def test_a_trickled_head_is_answered_408_and_closed_within_the_bound(
    start_router: StartRouter,
) -> None:
    router = await start_router(_config(header_seconds=1))
    loop = asyncio.get_running_loop()

    async def trickle() -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.server.port)
        started = loop.time()
        writer.write(HEAD)
        answer = b""
        try:
            for i in range(100):  # a header line every 50 ms: 5 s at most
                writer.write(b"X-Slow-%d: y\r\n" % i)
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(65536), 0.05)
                except TimeoutError:
                    continue
                break
        except ConnectionError:
            pass
        rest, closed = await _until_closed(reader, 5.0)
        writer.close()
        return closed - started, answer + rest

    with HealthWatch(router.url) as watch:
        results = await asyncio.gather(*(trickle() for _ in range(20)))
    watch.assert_fast()
    for took, answer in results:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert b"server.limits.header_seconds" in answer
        assert 0.9 < took < 2.5, f"closed after {took:.2f} s (bound: 1 s)"


async def test_a_connection_that_sends_nothing_is_closed_after_header_seconds(
    start_router: StartRouter,
) -> None:
    router = await start_router(_config(header_seconds=1))
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", router.server.port)
    started = loop.time()
    with HealthWatch(router.url) as watch:
        data, closed = await _until_closed(reader, 5.0)
    writer.close()
    watch.assert_fast()
    assert data == b""  # nothing asked, nothing answered
    assert 0.9 < closed - started < 2.5


class _PeakRSS:
    """The largest resident size of this process (the router runs in it) while the
    block runs, sampled from a thread every 5 ms."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.base = self._proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    @property
    def grew_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _hostile(*args: object) -> subprocess.Popen[str]:
    """A hostile client process (tests/router/api/_hostile_clients.py): its own work and
    descriptors do not count against the router, which runs in this process."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.router.api._hostile_clients", *map(str, args)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


async def _line(proc: subprocess.Popen[str], within: float = 60.0) -> str:
    assert proc.stdout is not None
    return await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), within)


async def test_header_floods_get_431_and_memory_stays_bounded(start_router: StartRouter) -> None:
    router = await start_router(_config())  # max_header_bytes: 64 KB
    answers: list[str] = []
    with HealthWatch(router.url) as watch, _PeakRSS() as rss:
        # Rounds of 20 heads of 256 lines of 30 KB (7.7 MB each if nothing stops them),
        # until the watch has probed during several rounds.
        for _ in range(10):
            proc = _hostile("flood", router.server.port, 20, 30_000, 256)
            try:
                answers += json.loads(await _line(proc))
            finally:
                proc.kill()
                proc.wait(10)
            if watch.count >= 5:
                break
    watch.assert_fast()
    # The 431 is written before the close, but the client may be told of the close first
    # (a reset, as it was still sending): an answer is the 431 or nothing.
    refused = [a for a in answers if a.startswith("HTTP/1.1 431 ")]
    assert all(a == "" or a.startswith("HTTP/1.1 431 ") for a in answers), answers[0][:80]
    assert refused, "no flood got its 431"
    assert "server.limits.max_header_bytes" in refused[0]
    # Unbounded, 20 such heads held about 75 MB (aiohttp keeps every header line).
    assert rss.grew_mb < 25, f"RSS grew by {rss.grew_mb:.0f} MB"


async def test_idle_keep_alive_connections_are_closed_after_keepalive_seconds(
    start_router: StartRouter,
) -> None:
    router = await start_router(_config(keepalive_seconds=1, header_seconds=30))
    loop = asyncio.get_running_loop()
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def one_request() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"Connection: close" not in head  # kept alive
        length = int(head.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
        await asyncio.wait_for(reader.readexactly(length), 5)
        conns.append((reader, writer, loop.time()))

    with HealthWatch(router.url) as watch:
        for _ in range(10):  # 500 connections, 50 at a time
            await asyncio.gather(*(one_request() for _ in range(50)))
        assert _open_connections(router) >= 450  # they are held open, idle
        closed = await asyncio.gather(*(_until_closed(r, 6.0) for r, _, _ in conns))
    watch.assert_fast()
    idle = [at - answered for (_, _, answered), (_, at) in zip(conns, closed, strict=True)]
    assert min(idle) > 0.9, f"a connection was closed after {min(idle):.2f} s idle (bound: 1 s)"
    assert max(idle) < 3.0, f"a connection stayed open {max(idle):.2f} s idle (bound: 1 s)"
    for _, writer, _ in conns:
        writer.close()


@pytest.fixture(autouse=True)
def frozen_heap() -> Any:
    """As ``python -m router`` does after start-up (gc.freeze): the objects that live for
    the whole process are left out of full collections. This test process holds pytest
    and every test module besides, and a full collection of all that (~80 ms) would be
    measured as a /healthz stall the router itself does not have."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture
def few_descriptors() -> Any:
    """This process (the router's) may open only 600 more descriptors during the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = len(os.listdir("/proc/self/fd")) + 600
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    yield limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_connection_flood_past_the_cap_leaves_healthz_served(
    few_descriptors: int, start_router: StartRouter
) -> None:
    # The cap: max_connections (1,024) lowered to fit the descriptor limit.
    router = await start_router(_config(header_seconds=30))
    attacker = _hostile("hold", router.server.port, 900, 1000)
    try:
        with HealthWatch(router.url) as watch:
            opened = int(await _line(attacker))
            assert opened >= 850, f"the attacker opened only {opened} connections"
            peak = 0
            deadline = time.monotonic() + 1.0  # keep probing with the flood in place
            while time.monotonic() < deadline:
                peak = max(peak, _open_connections(router))
                await asyncio.sleep(0.02)
        watch.assert_fast()
        assert attacker.stdin is not None
        attacker.stdin.write("\n")
        attacker.stdin.flush()
        closed = int(await _line(attacker))
    finally:
        attacker.kill()
        attacker.wait(10)
    cap = router.server.runner.server.cap  # type: ignore[union-attr]
    assert cap < 300
    assert peak <= cap + 1, f"{peak} connections open, cap {cap}"
    assert closed >= opened - cap - 5, f"only {closed} idle connections were closed at the cap"


async def test_past_the_cap_with_every_connection_serving_the_newcomer_gets_503(
    start_router: StartRouter,
) -> None:
    router = await start_router(_config(max_connections=16, body_idle_seconds=30))
    held = []
    for _ in range(16):  # each is inside a handler, waiting for its body
        reader, writer = await asyncio.open_connection("127.0.0.1", router.server.port)
        writer.write(HEAD + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        held.append((reader, writer))
    await _requests_taken(router, 16)
    reader, writer = await asyncio.open_connection("127.0.0.1", router.server.port)
    answer, _ = await _until_closed(reader, 5.0)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 503 "), answer[:80]
    assert b"Retry-After: 1" in answer
    # The ones being served were not touched: one finishes its body and is answered.
    r, w = held[0]
    w.write(b'"model": "x"' + b" " * 86 + b"}")
    served = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
    assert served.startswith(b"HTTP/1.1 ") and b"X-Request-Id" in served, served[:200]
    for _, w in held:
        w.close()


async def _requests_taken(router: RunningRouter, count: int) -> None:
    """Wait (bounded) until the router took ``count`` requests, then let their handlers
    run up to their body reads: they run in this event loop with nothing else to wait for."""
    runner = router.server.runner
    assert runner is not None and runner.server is not None
    for _ in range(100):  # 5 s at most
        if runner.server.requests_count >= count:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the router took {runner.server.requests_count} of {count}")
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_slow_body_gets_408_in_the_clients_format(start_router: StartRouter) -> None:
    router = await start_router(_config(body_idle_seconds=0.5, body_seconds=2))
    loop = asyncio.get_running_loop()

    async def send(path: bytes, trickle: bool) -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.server.port)
        started = loop.time()
        writer.write(
            b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        answer = b""
        try:
            for _ in range(100 if trickle else 0):  # a byte every 0.2 s: 20 s at most
                try:
                    answer = await asyncio.wait_for(reader.read(65536), 0.2)
                    break
                except TimeoutError:
                    writer.write(b" ")
                    await writer.drain()
        except ConnectionError:
            pass
        rest, closed = await _until_closed(reader, 15.0)
        writer.close()
        return closed - started, answer + rest

    with HealthWatch(router.url) as watch:
        (stalled, stalled_answer), (trickled, trickled_answer) = await asyncio.gather(
            send(b"/v1/messages", trickle=False), send(b"/v1/chat/completions", trickle=True)
        )
    watch.assert_fast()
    assert stalled_answer.startswith(b"HTTP/1.1 408 "), stalled_answer[:80]
    assert b'"type":"error"' in stalled_answer  # Anthropic's shape on /v1/messages
    assert b"body_idle_seconds" in stalled_answer
    assert 0.4 < stalled < 1.5
    assert trickled_answer.startswith(b"HTTP/1.1 408 "), trickled_answer[:80]
    assert b'"error":{"message"' in trickled_answer  # OpenAI's shape
    assert b"body_seconds" in trickled_answer
    assert 1.9 < trickled < 3.5


async def test_big_bodies_and_pipelined_requests_are_not_taken_for_heads(
    start_router: StartRouter,
) -> None:
    """Only head bytes count against max_header_bytes: a 1 MB body is read as a body,
    the chunk that completes it too, and a request pipelined behind it is answered."""
    router = await start_router(_config(max_header_bytes=4096))
    body = b'{"model": "nope", "messages": [], "pad": "' + b"x" * 1_000_000 + b'"}'
    head = HEAD + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    reader, writer = await asyncio.open_connection("127.0.0.1", router.server.port)
    # In three writes apart, so that the chunk which completes the body arrives alone and
    # is larger than a head may be (how bytes arrive changes nothing in what must happen).
    for part in (
        head + body[:-20_000],
        body[-20_000:],
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    ):
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(0.1)
    answer, _ = await _until_closed(reader, 10.0)
    writer.close()
    answers = answer.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 2, f"closed after {len(answers)} answers: {answer[:200]!r}"
    first, second = answers
    assert not first.startswith((b"431", b"408")), first[:200]  # the router's own answer
    assert b"X-Request-Id" in first
    assert second.startswith(b"200 ")


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"max_conections": 10}, "server.limits.max_conections: unknown key"),
        ({"header_seconds": "nan"}, "server.limits.header_seconds"),
        ({"keepalive_seconds": 0}, "server.limits.keepalive_seconds"),
        ({"max_header_bytes": 100}, "server.limits.max_header_bytes: must be at least"),
        ({"max_connections": "many"}, "server.limits.max_connections: expected a whole number"),
    ],
)
def test_a_bad_limit_is_an_error_naming_its_key(limits: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"server": {"limits": limits}}, environ={})
    assert named in str(err.value)
