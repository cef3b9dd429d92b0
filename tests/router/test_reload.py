"""Reloading the config: new rules apply to the next request, a broken file is ignored,
and a stream in flight keeps going on the snapshot it started with."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from router._reload import reload_config
from router.app import create_app
from suite.config import load_config
from tests.fakes import FakeAnthropic, FakeOpenAI, Reply


def _write(path: Path, anth_url: str, oa_url: str, claude_to: str) -> None:
    cfg = {
        "usage": {"path": str(path.parent / "usage.sqlite3")},  # not the default data dir
        "providers": {
            # The provider changes with the rule, so its old connection pool is retired.
            "anth": {
                "kind": "anthropic",
                "base_url": anth_url,
                "api_keys": ["k1"],
                "headers": {"x-gen": claude_to},
            },
            "anth2": {
                "kind": "anthropic",
                "base_url": oa_url.replace("/v1", ""),
                "api_keys": ["k2"],
            },
        },
        "models": {"routing": [{"pattern": "^claude", "providers": [claude_to]}]},
    }
    path.write_text(yaml.safe_dump(cfg))


async def test_reload_switches_rules_and_keeps_old_config_when_broken(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestServer

    async with FakeAnthropic() as one, FakeAnthropic() as two, FakeOpenAI():
        one.default = Reply(text="one two three four five", chunk_delay=0.1)
        two.default = Reply(text="two")
        path = tmp_path / "config.yaml"
        _write(path, one.base_url, two.base_url + "/v1", "anth")
        app = create_app(load_config(path))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        url = f"http://127.0.0.1:{server.port}/v1/messages"
        body = {
            "model": "claude-x",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
        }
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                async with http.stream("POST", url, json={**body, "stream": True}) as inflight:
                    chunks = inflight.aiter_bytes()
                    first = await chunks.__anext__()
                    assert b"message_start" in first
                    _write(path, one.base_url, two.base_url + "/v1", "anth2")
                    assert reload_config(app, path)
                    after = await http.post(url, json=body)
                    rest = b"".join([c async for c in chunks])
                assert b"message_stop" in rest  # the old stream finished on its own snapshot
                assert after.json()["content"][0]["text"] == "two"
                path.write_text("models: {routing: [{pattern: '(', providers: []}]}\n")
                assert not reload_config(app, path)
                still = await http.post(url, json=body)
                assert still.json()["content"][0]["text"] == "two"
        finally:
            await server.close()
