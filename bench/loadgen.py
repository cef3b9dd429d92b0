"""A Python async load client: bounded in requests and seconds, SSE-aware.

``python -m bench.loadgen --url URL --body-file F -c 32 -n 100000 -d 5 [--stream] [-H 'K: V']``

``-c`` workers share one pooled session and send requests back to back until
``-n`` requests were started or ``-d`` seconds passed, whichever comes first.
A streamed answer is read chunk by chunk as it arrives and counts as good
only if it is a 200 that ends with its format's terminator. Prints one JSON
object (latencies in microseconds) on stdout; used when ``wrk`` is absent or
with ``python -m bench --client python``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import asdict, dataclass, field

import aiohttp
import orjson

__all__ = ["LoadStats", "main", "run"]

_TERMINATORS = (b"data: [DONE]", b"message_stop")


@dataclass(slots=True)
class LoadStats:
    requests: int = 0
    bad: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    latencies_us: list[int] = field(default_factory=list)
    ttfb_us: list[int] = field(default_factory=list)
    reads: int = 0

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies_us)
        ttfb = sorted(self.ttfb_us)
        out = asdict(self)
        del out["latencies_us"], out["ttfb_us"]
        out["statuses"] = {str(k): v for k, v in self.statuses.items()}
        out.update(
            p50_us=_pct(lat, 50),
            p90_us=_pct(lat, 90),
            p99_us=_pct(lat, 99),
            max_us=lat[-1] if lat else 0,
            ttfb_p50_us=_pct(ttfb, 50),
            ttfb_p99_us=_pct(ttfb, 99),
        )
        return out


def _pct(values: list[int], p: float) -> int:
    if not values:
        return 0
    k = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


async def _one(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    stream: bool,
    stats: LoadStats,
    headers: dict[str, str],
) -> None:
    t0 = time.perf_counter()
    ok = False
    async with session.post(url, data=body, headers=headers) as r:
        stats.statuses[r.status] = stats.statuses.get(r.status, 0) + 1
        if stream:
            tail = b""
            first = True
            async for chunk in r.content.iter_any():
                if first:
                    stats.ttfb_us.append(int((time.perf_counter() - t0) * 1e6))
                    first = False
                stats.reads += 1
                tail = (tail + chunk)[-64:]
            ok = r.status == 200 and any(t in tail for t in _TERMINATORS)
        else:
            await r.read()
            ok = r.status == 200
    stats.latencies_us.append(int((time.perf_counter() - t0) * 1e6))
    if not ok:
        stats.bad += 1


async def run(
    url: str,
    body: bytes,
    concurrency: int,
    count: int,
    seconds: float,
    stream: bool,
    headers: dict[str, str] | None = None,
) -> LoadStats:
    stats = LoadStats()
    sent = {"Content-Type": "application/json", **(headers or {})}
    started = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=max(30.0, seconds * 2))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal started
        while started < count and time.perf_counter() < deadline:
            started += 1
            try:
                await _one(session, url, body, stream, stats, sent)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                stats.bad += 1
            stats.requests += 1

    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    stats.seconds = time.perf_counter() - t0
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--body-file", required=True)
    p.add_argument("-c", "--concurrency", type=int, default=1)
    p.add_argument("-n", "--count", type=int, default=100_000, help="at most this many requests")
    p.add_argument("-d", "--seconds", type=float, default=5.0, help="at most this long")
    p.add_argument("--stream", action="store_true", help="read the answer as an SSE stream")
    p.add_argument("-H", "--header", action="append", default=[], help="'Name: value', repeatable")
    args = p.parse_args(argv)
    headers = dict(_header(h) for h in args.header)
    with open(args.body_file, "rb") as f:
        body = f.read()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    stats = asyncio.run(
        run(args.url, body, args.concurrency, args.count, args.seconds, args.stream, headers)
    )
    sys.stdout.write(orjson.dumps(stats.summary()).decode() + "\n")
    return 0


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise SystemExit(f"bench.loadgen: -H expects 'Name: value', got {text!r}")
    return name.strip(), value.strip()


if __name__ == "__main__":
    raise SystemExit(main())
