"""The shared counters out of reach (their PostgreSQL down): a key's limits let requests
through rather than refuse everyone, with one warning, while what needs no counter
(allowed models, revocation) is still enforced.
"""

from __future__ import annotations

import aiohttp

from router.keys import CLIENT_KEYS
from tests.conftest import production_logging
from tests.fakes import unused_port

from ._support import router_config, upstreams

BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


async def _status(http, url: str, key: str, model: str = "gpt-test") -> int:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(
        f"{url}/v1/chat/completions", json={**BODY, "model": model}, headers=headers
    ) as r:
        await r.read()
        return r.status


async def test_limits_fail_open_when_the_counters_are_unreachable(
    start_router, tmp_path, capsys
) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{unused_port()}/nothing"  # nobody listens
    auth = {"dir": str(tmp_path / "auth"), "store": "file", "dsn": dead}
    async with upstreams() as ups:
        with production_logging():
            r = await start_router(router_config(ups, auth, server={"shared_state": "postgres"}))
            keys = r.app[CLIENT_KEYS]
            _, secret = await keys.create(
                {
                    "name": "alice",
                    "models": ["gpt-*"],
                    "requests_per_minute": 1,
                    "tokens_per_day": 1,
                }
            )
            async with aiohttp.ClientSession() as http:
                assert [await _status(http, r.url, secret) for _ in range(3)] == [200] * 3
                assert await _status(http, r.url, secret, "claude-test") == 403
                await keys.revoke("alice")
                assert await _status(http, r.url, secret) == 401
        out = capsys.readouterr().out
    assert out.count("client key limits not enforced: shared state unreachable") == 1
    assert secret not in out
