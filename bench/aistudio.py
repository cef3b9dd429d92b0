"""``python -m bench.aistudio``: the browser pool against the fake AI Studio page.

Measures, with real headless Chromium (Debian's ``chromium``), everything on
127.0.0.1 in one process (fake site, router, aistudio service):

* requests per minute with 1 page vs 3 pages (one profile), under a closed
  load of 2 clients per page, each answer rendering ``--tokens`` tokens
  ``--delay`` s apart (about what a short real answer does);
* the latency the relay adds to the first chunk: the client's first streamed
  byte minus the moment the page rendered its first token (same clock: the
  page reports ``Date.now()``), median and p95.

A measurement, not a test: prints a table, never fails on a number. Bounded:
each row runs ``--seconds`` and at most ``--max-requests`` requests.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from aistudio import ProfileStore, Service, settings_from_config
from router.app import create_app
from suite.config import Config, parse_config
from suite.logging import setup_logging
from tests.fakes.aistudio_site import Answer, FakeAIStudio

MODEL = "gemini-2.5-pro-aistudio"
_LAST_ERROR: list[str] = []


def _config(site: FakeAIStudio, auth: Path, pages: int, chromium: str) -> Config:
    prov: dict[str, Any] = {
        "kind": "aistudio",
        "browser": {
            "engine": "chromium",
            "executable_path": chromium,
            "pages": pages,
            "max_instances": 1,
        },
        "page": {"url": site.url, "signin_hosts": [site.signin_host]},
        "health": {"port": 0},
    }
    data = {
        "server": {"api_keys": []},
        "auth": {"dir": str(auth)},
        "providers": {"aistudio": prov},
        "models": {"routing": [{"pattern": "-aistudio$", "providers": ["aistudio"]}]},
        "logging": {"level": "warning"},
    }
    return parse_config(data, environ={})


async def _one(session: aiohttp.ClientSession, url: str) -> tuple[bool, float | None]:
    """One streamed Gemini request (the pool's own wire: no translation is measured);
    (ok, wall time of its first content byte)."""
    body = {"contents": [{"role": "user", "parts": [{"text": "bench"}]}]}
    first: float | None = None
    async with session.post(url, json=body) as resp:
        if resp.status != 200:
            _LAST_ERROR[:] = [f"{resp.status}: {(await resp.read())[:300]!r}"]
            return False, None
        async for line in resp.content:
            if first is None and line.startswith(b"data: {") and b'"text"' in line:
                first = time.time()
    return True, first


async def _row(pages: int, args: argparse.Namespace, chromium: str, base: Path) -> dict[str, Any]:
    answer = Answer(text=" ".join(f"tok{i}" for i in range(args.tokens)), delay=args.delay)
    site = await FakeAIStudio(default=answer).start()
    auth = base / f"auth-{pages}"
    ProfileStore(auth).save("default", site.storage_state())
    config = _config(site, auth, pages, chromium)
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    settings = dataclasses.replace(
        settings_from_config(config), relay_url=f"ws://127.0.0.1:{port}/v1/ws"
    )
    service = Service(settings)
    await service.start()
    url = f"http://127.0.0.1:{port}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            service.pool is None or service.pool.capacity() < pages
        ):
            await asyncio.sleep(0.1)
        while time.monotonic() < deadline and not service.relay.connected:
            await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as session:
            await _one(session, url)  # warm: first page load, first model render
            site.events.clear()
            done: list[tuple[bool, float | None]] = []
            stop_at = time.monotonic() + args.seconds

            async def client() -> None:
                while time.monotonic() < stop_at and len(done) < args.max_requests:
                    done.append(await _one(session, url))

            began = time.monotonic()
            await asyncio.gather(*(client() for _ in range(2 * pages)))
            elapsed = time.monotonic() - began
        firsts = sorted(t for ok, t in done if ok and t is not None)
        page_firsts = sorted(e.at for e in site.of_type("first_token"))
        added = [c - p for c, p in zip(firsts, page_firsts, strict=False)]
        ok = sum(1 for good, _ in done if good)
        if ok < len(done) and _LAST_ERROR:
            print(
                f"  {pages} pages: {len(done) - ok} errors, last: {_LAST_ERROR[0]}", file=sys.stderr
            )
        return {
            "pages": pages,
            "requests": ok,
            "errors": len(done) - ok,
            "seconds": elapsed,
            "rpm": ok / elapsed * 60 if elapsed else 0.0,
            "added_ms_p50": statistics.median(added) * 1000 if added else None,
            "added_ms_p95": sorted(added)[int(0.95 * (len(added) - 1))] * 1000 if added else None,
        }
    finally:
        await service.stop()
        await runner.cleanup()
        await site.close()


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


async def _main(args: argparse.Namespace) -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print(
            "bench.aistudio: Debian's chromium is not installed (apt-get install chromium)",
            file=sys.stderr,
        )
        return 1
    render = args.tokens * args.delay
    print(
        f"aistudio pool vs the fake AI Studio: {args.tokens} tokens x {args.delay * 1000:.0f} ms "
        f"(~{render:.2f} s of rendering per answer), 2 clients per page, {args.seconds:g} s per row"
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-aistudio-") as tmp:
        for pages in args.pages:
            rows.append(await _row(pages, args, chromium, Path(tmp)))
    head = f"{'pages':>5}  {'requests':>8}  {'errors':>6}  {'req/min':>8}  {'first chunk +ms p50':>19}  {'p95':>6}"
    print(head)
    for r in rows:
        print(
            f"{r['pages']:>5}  {r['requests']:>8}  {r['errors']:>6}  {r['rpm']:>8.1f}  "
            f"{_fmt(r['added_ms_p50']):>19}  {_fmt(r['added_ms_p95']):>6}"
        )
    if len(rows) >= 2 and rows[0]["rpm"]:
        print(
            f"speed-up {rows[-1]['pages']} pages vs {rows[0]['pages']}: x{rows[-1]['rpm'] / rows[0]['rpm']:.2f}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aistudio", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="per row (default 20)")
    parser.add_argument("--max-requests", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.03, help="seconds between rendered tokens")
    parser.add_argument("--pages", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args(argv)
    setup_logging("bench", "warning")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
