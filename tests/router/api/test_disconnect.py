"""A client that closes its connection half-way through its body is a client disconnect
(499 in the access log and the metrics), not a server error (router/api/_receive.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest
import structlog

from suite.logging import access_log
from tests.conftest import RunningRouter, StartRouter, build_config
from tests.router.observability._support import MGMT, scrape, value, with_observability


async def _access_line(capsys: pytest.CaptureFixture[str], path: str) -> dict[str, object]:
    """The access line for ``path``, waiting (bounded) for the router to write it."""
    seen: list[dict[str, object]] = []
    for _ in range(100):  # 5 s at most
        access_log.flush()
        for text in capsys.readouterr().out.splitlines():
            if text.startswith("{"):
                try:
                    seen.append(json.loads(text))
                except ValueError:  # another writer's text on the same stdout
                    pass
        lines = [x for x in seen if x.get("event") == "request" and x.get("path") == path]
        if lines:
            (line,) = lines
            return line
        await asyncio.sleep(0.05)
    raise AssertionError(f"no access line for {path}: {seen}")


async def _handler_reading(router: RunningRouter) -> None:
    """Wait (bounded) until the router took the request, then let its handler run up to
    the body read: it runs in this event loop and has nothing else to wait for."""
    runner = router.server.runner
    assert runner is not None and runner.server is not None
    for _ in range(100):  # 5 s at most
        if runner.server.requests_count:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the router never took the request")
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_client_gone_mid_body_is_499_not_500(
    start_router: StartRouter,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = await start_router(with_observability(build_config({}, []), tmp_path))
    access_log.flush()  # lines of earlier tests still batched: not this test's
    capsys.readouterr()
    with structlog.testing.capture_logs() as logs:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.server.port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            b'{"model": '  # 10 of the 100,000 bytes
        )
        await writer.drain()
        await _handler_reading(router)
        writer.close()
        await writer.wait_closed()
        line = await _access_line(capsys, "/v1/chat/completions")
    assert line["status"] == 499, line
    assert line["level"] == "info" and "error" not in line, line
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], logs
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records
    async with httpx.AsyncClient(headers=MGMT) as http:
        scraped = await scrape(http, router.url)
    assert value(scraped, "cliproxy_requests_total", status="499") == 1
    assert value(scraped, "cliproxy_requests_total", status="500") == 0
