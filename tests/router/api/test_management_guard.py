"""The management key's limits: the right key always passes, wrong ones are limited per
address and for every address together, and bytes that are not UTF-8 get a 401
(router/api/_guard.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson

from router.api._guard import BAN_SECONDS, GLOBAL_BURST, GLOBAL_REFILL_SECONDS, MAX_FAILURES
from suite.config import parse_config
from tests.conftest import StartRouter
from tests.router.auth._support import MANAGEMENT_KEY, config, raw_config

GOOD = {"X-Management-Key": MANAGEMENT_KEY}
WRONG = {"X-Management-Key": "wrong"}
PATH = "/v1/auth/credentials"


def _client(address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(timeout=5, transport=transport)


async def test_the_right_key_passes_after_wrong_ones_from_the_same_address(
    start_router: StartRouter, tmp_path: Path
) -> None:
    router = await start_router(config({}, {"dir": str(tmp_path / "auth")}))
    url = router.url + PATH
    async with _client("127.0.0.1") as http:
        for _ in range(MAX_FAILURES):
            assert (await http.get(url, headers=WRONG)).status_code == 401
        refused = await http.get(url, headers=WRONG)  # this address: wrong keys refused
        assert refused.status_code == 429
        assert BAN_SECONDS - 10 <= int(refused.headers["Retry-After"]) <= BAN_SECONDS
        assert "from this address" in refused.json()["error"]["message"]
        for header in (GOOD, {"Authorization": f"Bearer {MANAGEMENT_KEY}"}):
            right = await http.get(url, headers=header)  # the admin is not locked out
            assert right.status_code == 200, right.text
            assert right.json() == {"credentials": []}
        assert (await http.get(url, headers=WRONG)).status_code == 429  # still limited


async def test_wrong_keys_from_many_loopback_addresses_share_one_limit(
    start_router: StartRouter, tmp_path: Path
) -> None:
    router = await start_router(config({}, {"dir": str(tmp_path / "auth")}))
    url = router.url + PATH
    statuses: list[int] = []
    started = time.monotonic()
    # 127.0.0.2 .. 127.0.0.50, two guesses each: under the per-address limit everywhere.
    for last in range(2, 51):
        async with _client(f"127.0.0.{last}") as http:
            for _ in range(2):
                statuses.append((await http.get(url, headers=WRONG)).status_code)
    took = time.monotonic() - started
    checked, refused = statuses.count(401), statuses.count(429)
    assert checked + refused == len(statuses) == 98
    allowed = GLOBAL_BURST + int(took / GLOBAL_REFILL_SECONDS) + 1
    assert checked <= allowed, f"{checked} wrong keys got a real check in {took:.1f} s"
    assert refused >= 98 - allowed
    async with _client("127.0.0.51") as http:
        last = await http.get(url, headers=WRONG)
        assert last.status_code == 429
        assert "from all addresses" in last.json()["error"]["message"]
        assert 1 <= int(last.headers["Retry-After"]) <= GLOBAL_REFILL_SECONDS
        assert (await http.get(url, headers=GOOD)).status_code == 200  # the admin still passes


async def _raw(port: int, head: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


async def test_key_headers_that_are_not_utf8_get_401(
    start_router: StartRouter, tmp_path: Path
) -> None:
    # Clients do not send such bytes: raw sockets do.
    raw = raw_config({}, {"dir": str(tmp_path / "auth")}, api_keys=["sk-client-0123456789"])
    raw["services"] = {"token": "services-token-0123456789"}
    router = await start_router(parse_config(raw, environ={}))
    port = router.server.port
    cases = [
        (b"GET /v1/auth/credentials HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n", "openai"),
        (b"GET /v1/auth/credentials HTTP/1.1\r\nX-Management-Key: \xff\r\n", "openai"),
        (b"GET /v1/models HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n", "openai"),
        (b"GET /v1/models HTTP/1.1\r\nx-api-key: \xff\r\n", "openai"),
        (b"POST /v1/messages HTTP/1.1\r\nx-api-key: \xff\r\nContent-Length: 0\r\n", "anthropic"),
        (b"GET /v1beta/models HTTP/1.1\r\nx-goog-api-key: \xc3\x28\r\n", "gemini"),
        (b"GET /v1beta/models?key=%ff%fe HTTP/1.1\r\n", "gemini"),
        (b"GET /v1/ws HTTP/1.1\r\nAuthorization: Bearer \xff\r\n", "openai"),
    ]
    for head, fmt in cases:
        status, body = await _raw(port, head)
        assert status == 401, (head, status, body[:200])
        error = orjson.loads(body)
        if fmt == "anthropic":
            assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
        elif fmt == "gemini":
            assert error["error"]["status"] == "UNAUTHENTICATED"
        else:
            assert error["error"]["message"]
