"""A failed request leaves no reference cycle through the router's frames.

An exception kept past its ``except`` block (the walk's last failure, the
middleware's error) holds its traceback, whose frames hold the exception back:
every failed request's frames, and through them its body, then waited for the
garbage collector (during an upstream outage, every request's body). Without
the cycle they go when the request ends.
"""

from __future__ import annotations

import gc
import types

import httpx
import pytest

from tests.conftest import build_config
from tests.fakes import Fail, FakeAnthropic

KEY = "sk-client"


def _router_frames(garbage: list[object]) -> list[str]:
    return sorted(
        f"{o.f_code.co_name} ({o.f_code.co_filename.rsplit('/', 2)[-2]})"
        for o in garbage
        if isinstance(o, types.FrameType) and "/router/" in o.f_code.co_filename
    )


@pytest.mark.parametrize("stream", [False, True])
async def test_failed_requests_leave_no_cycle_through_router_frames(
    start_router, stream: bool
) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        config = build_config(
            {
                "one": {"kind": "anthropic", "base_url": one.base_url, "api_keys": ["k1"]},
                "two": {"kind": "anthropic", "base_url": two.base_url, "api_keys": ["k2"]},
            },
            [{"pattern": "^claude-", "providers": ["one", "two"]}],
            api_keys=[KEY],
        )
        r = await start_router(config)
        body = {
            "model": "claude-x",
            "max_tokens": 5,
            "stream": stream,
            "messages": [{"role": "user", "content": "x" * 50_000}],
        }
        async with httpx.AsyncClient() as http:
            gc.collect()
            gc.disable()
            try:
                for _ in range(3):
                    one.enqueue(Fail(500))
                    two.enqueue(Fail(500))
                    resp = await http.post(
                        f"{r.url}/v1/messages", json=body, headers={"x-api-key": KEY}
                    )
                    assert resp.status_code >= 500  # every candidate failed (or rests)
                gc.set_debug(gc.DEBUG_SAVEALL)
                gc.collect()
                frames = _router_frames(gc.garbage)
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
        assert len(one.requests) >= 1  # the attempts did fail upstream
        assert frames == []
