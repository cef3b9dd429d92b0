"""Many concurrent slow streams: ``python -m bench.streams --url URL --body-file F -n 1000``.

Opens ``-n`` streaming requests at once (all of them in flight together, one
connection each), reads every answer chunk by chunk to its end, and prints one
JSON object: how many streams ended well, the errors by kind, the events each
stream carried (fewest, most), time to first byte and stream duration. Meant
for the fake upstream's ``-slow`` streams (one event per 100 ms for 20 s), where
what is measured is what holding many streams open costs the relay, not speed.

Bounded: exactly ``-n`` requests, every one cancelled at ``--deadline`` seconds,
loopback only. The descriptor limit of this process is raised to its hard limit
when ``-n`` needs more than the soft one.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import orjson

__all__ = ["StreamsStats", "main", "raise_nofile", "run"]

_TERMINATORS = (b"data: [DONE]", b"message_stop")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(slots=True)
class StreamsStats:
    streams: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count
    events: list[int] = field(default_factory=list)  # SSE events per finished stream
    ttfb_ms: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # per stream, start to end
    wall: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self) -> dict[str, object]:
        ttfb, secs = sorted(self.ttfb_ms), sorted(self.seconds)
        return {
            "streams": self.streams,
            "ok": self.ok,
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "events_min": min(self.events, default=0),
            "events_max": max(self.events, default=0),
            "ttfb_p50_ms": _pct(ttfb, 50),
            "ttfb_max_ms": ttfb[-1] if ttfb else 0.0,
            "stream_p50_s": _pct(secs, 50),
            "stream_max_s": secs[-1] if secs else 0.0,
            "wall_s": self.wall,
        }


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def raise_nofile(need: int) -> int:
    """Raise this process's soft descriptor limit to at least ``need`` (at most the hard
    limit); children inherit it. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    top = need if hard == resource.RLIM_INFINITY else min(need, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
    return top


async def _one(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    stats: StreamsStats,
    delay: float,
) -> None:
    try:
        await asyncio.sleep(delay)
    except asyncio.CancelledError:
        stats.error("not started by the deadline")
        raise
    t0 = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as r:
            if r.status != 200:
                await r.read()
                stats.error(f"HTTP {r.status}")
                return
            events, tail, first = 0, b"", True
            async for chunk in r.content.iter_any():
                if first:
                    stats.ttfb_ms.append((time.perf_counter() - t0) * 1000)
                    first = False
                joined = tail + chunk
                events += joined.count(b"\n\n") - tail.count(b"\n\n")
                tail = joined[-64:]
            stats.events.append(events)
            stats.seconds.append(time.perf_counter() - t0)
            if any(t in tail for t in _TERMINATORS):
                stats.ok += 1
            else:
                stats.error("stream ended without its terminator")
    except asyncio.CancelledError:
        stats.error("still open at the deadline")
        raise
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        stats.error(f"{type(exc).__name__}: {exc}"[:120])


async def run(
    url: str,
    body: bytes,
    n: int,
    deadline: float,
    headers: dict[str, str] | None = None,
    ramp: float = 0.0,
) -> StreamsStats:
    """``n`` streams, started evenly over ``ramp`` seconds (0: all at once); whatever is
    still open after ``deadline`` seconds is cancelled."""
    if urlsplit(url).hostname not in _LOOPBACK:
        raise SystemExit(f"bench.streams: loopback only, not {url}")
    stats = StreamsStats(streams=n)
    sent = {"Content-Type": "application/json", **(headers or {})}
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        work = asyncio.gather(
            *(_one(session, url, body, sent, stats, i * ramp / n) for i in range(n))
        )
        try:
            await asyncio.wait_for(work, deadline)
        except asyncio.TimeoutError:
            pass  # each cancelled stream counted itself
    stats.wall = time.perf_counter() - t0
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--body-file", required=True)
    p.add_argument("-n", "--streams", type=int, default=1000)
    p.add_argument("--deadline", type=float, default=60.0, help="seconds before all are cut")
    p.add_argument("--ramp", type=float, default=0.0, help="start the streams over this long")
    p.add_argument("-H", "--header", action="append", default=[], help="'Name: value', repeatable")
    args = p.parse_args(argv)
    if not 0 < args.streams <= 20_000:
        raise SystemExit("bench.streams: -n must be 1..20000")
    headers = {}
    for h in args.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    with open(args.body_file, "rb") as f:
        body = f.read()
    limit = raise_nofile(args.streams + 64)
    if limit < args.streams + 16:
        raise SystemExit(f"bench.streams: descriptor limit {limit} is too low for {args.streams}")
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    stats = asyncio.run(run(args.url, body, args.streams, args.deadline, headers, args.ramp))
    sys.stdout.write(orjson.dumps(stats.summary()).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
