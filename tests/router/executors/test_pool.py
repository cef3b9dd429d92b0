"""The upstream connection pool: as large as the router's client cap unless configured, and a
wait for a free connection named for what it is when it times out."""

from __future__ import annotations

import asyncio

import httpx

from router.executors import build_executor
from tests.conftest import build_config
from tests.fakes import FakeAnthropic, Reply


def _config(base_url: str, **provider: object) -> object:
    return build_config(
        {"anth": {"kind": "anthropic", "base_url": base_url, "api_keys": ["k"], **provider}},
        [{"pattern": "^claude-", "providers": ["anth"]}],
        server={
            "timeouts": {"connect": 0.5, "first_byte": 10, "idle": 10},
            "limits": {"max_connections": 700},
        },
    )


def test_pool_follows_the_client_cap_unless_configured() -> None:
    """1,000 streams through a pool of 512 left 488 waiting until they timed out."""
    cfg = _config("http://127.0.0.1:9")
    ex = build_executor(cfg.providers["anth"])  # type: ignore[attr-defined]
    assert ex is not None and ex.pool_size == 700  # type: ignore[attr-defined]
    cfg = _config("http://127.0.0.1:9", max_connections=3)
    ex = build_executor(cfg.providers["anth"])  # type: ignore[attr-defined]
    assert ex is not None and ex.pool_size == 3  # type: ignore[attr-defined]


async def test_waiting_for_a_busy_pool_is_not_called_no_answer(start_router) -> None:
    """With the one connection held by a stream, the next request waits for it for
    ``timeouts.connect`` and fails saying so (not "no answer within" the first-byte time)."""
    async with FakeAnthropic() as fake:
        fake.enqueue(Reply(text="slow " * 40, chunks=40, chunk_delay=0.2))
        r = await start_router(_config(fake.base_url, max_connections=1))
        body = {
            "model": "claude-x",
            "max_tokens": 8,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        async with httpx.AsyncClient(base_url=r.url, timeout=20) as http:
            async with http.stream("POST", "/v1/messages", json=body) as held:
                assert held.status_code == 200
                stream = held.aiter_bytes()
                await anext(stream)  # the pool's one connection is now streaming
                second = await asyncio.wait_for(http.post("/v1/messages", json=body), 10)
        assert second.status_code == 504
        message = second.json()["error"]["message"]
        assert "no connection within 0.5s" in message and "max_connections" in message
        assert "no answer within" not in message
