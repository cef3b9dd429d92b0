"""The real process: ``python -m router`` starts fast, logs JSON lines, leaks no secret."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import orjson
import yaml

from tests.fakes import Fail, FakeAnthropic, Reply, unused_port

ROOT = Path(__file__).resolve().parents[2]
CLIENT_KEY = "sk-client-SECRET-abcdef123456"
UPSTREAM_KEY = "sk-ant-UPSTREAM-SECRET-987654321"


async def _start_router(config: Path, *, output: bool = True) -> asyncio.subprocess.Process:
    """``python -m router`` on ``config``; stdout and stderr in one pipe, or discarded."""
    return await asyncio.create_subprocess_exec(  # noqa: TID251
        sys.executable,
        "-m",
        "router",
        cwd=ROOT,
        env={**os.environ, "CLIPROXY_CONFIG": str(config)},
        stdout=asyncio.subprocess.PIPE if output else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.STDOUT if output else asyncio.subprocess.DEVNULL,
    )


def _data(tmp_path: Path) -> dict[str, str]:
    """The ``auth`` section that keeps the process's data dir (usage database, auth
    files, management key) in the test's temp dir, out of ~/.cli-proxy-api."""
    return {"dir": str(tmp_path / "data")}


async def _wait_healthy(url: str, proc: asyncio.subprocess.Process, limit: float = 20.0) -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=1) as http:
        while time.perf_counter() - started < limit:
            assert proc.returncode is None, "router exited during start-up"
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                await asyncio.sleep(0.02)
    raise AssertionError("router did not become healthy")


async def test_process_logs_one_json_access_line_per_request_without_secrets(
    tmp_path: Path,
) -> None:
    async with FakeAnthropic(api_keys=(UPSTREAM_KEY,)) as fake:
        port = unused_port()
        cfg = {
            "server": {"port": port, "api_keys": [CLIENT_KEY]},
            "auth": _data(tmp_path),
            "providers": {
                "a": {"kind": "anthropic", "base_url": fake.base_url, "api_keys": [UPSTREAM_KEY]}
            },
            "models": {"routing": [{"pattern": "^claude", "providers": ["a"]}]},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        proc = await _start_router(path)
        url = f"http://127.0.0.1:{port}"
        try:
            took = await _wait_healthy(url, proc)
            print(f"start to healthy: {took * 1000:.0f} ms")
            fake.enqueue(Reply(text="ok"), Fail(429, retry_after=30))
            body = {
                "model": "claude-x",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            }
            async with httpx.AsyncClient(timeout=10) as http:
                ok = await http.post(
                    f"{url}/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY}
                )
                bad = await http.post(
                    f"{url}/v1/messages",
                    json=body,
                    headers={"Authorization": f"Bearer {CLIENT_KEY}x"},
                )
                ok2 = await http.post(
                    f"{url}/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY}
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
        assert proc.returncode == 0
    assert ok.status_code == 200 and bad.status_code == 401
    assert ok2.status_code == 429 and ok2.headers["Retry-After"] == "30"
    text = out.decode()
    assert CLIENT_KEY not in text and UPSTREAM_KEY not in text
    lines = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    access = {line["request_id"]: line for line in lines if line.get("event") == "request"}
    first = access[ok.headers["X-Request-Id"]]
    assert first["status"] == 200 and first["service"] == "router"
    assert first["provider"] == "a" and first["credential"].startswith("a/key1-")
    assert first["model"] == "claude-x" and first["rule"] == "^claude"
    assert first["format"] == "anthropic" and first["tokens_out"] > 0 and first["ttfb_ms"] >= 0
    assert access[bad.headers["X-Request-Id"]]["status"] == 401
    assert any(line.get("event") == "credential cooling down" for line in lines)


async def test_sigterm_lets_a_running_stream_finish_then_exits(tmp_path: Path) -> None:
    async with FakeAnthropic() as fake:
        fake.default = Reply(text="one two three four five six", chunk_delay=0.15)
        port = unused_port()
        cfg = {
            "server": {"port": port},
            "auth": _data(tmp_path),
            "providers": {"a": {"kind": "anthropic", "base_url": fake.base_url, "api_keys": ["k"]}},
            "models": {"routing": [{"pattern": "^claude", "providers": ["a"]}]},
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        proc = await _start_router(path, output=False)
        url = f"http://127.0.0.1:{port}"
        try:
            await _wait_healthy(url, proc)
            body = {
                "model": "claude-x",
                "max_tokens": 5,
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            }
            async with httpx.AsyncClient(timeout=20) as http:
                async with http.stream("POST", f"{url}/v1/messages", json=body) as resp:
                    chunks = resp.aiter_bytes()
                    received = await chunks.__anext__()
                    proc.send_signal(signal.SIGTERM)
                    async for chunk in chunks:
                        received += chunk
            await asyncio.wait_for(proc.wait(), timeout=20)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert b"event: message_stop" in received
    assert b"event: error" not in received
    assert proc.returncode == 0


async def test_sighup_reloads_rules_and_keeps_the_old_config_when_broken(tmp_path: Path) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        one.default = Reply(text="from one")
        two.default = Reply(text="from two")
        port = unused_port()

        def config(target: str) -> str:
            return yaml.safe_dump(
                {
                    "server": {"port": port},
                    "auth": _data(tmp_path),
                    "providers": {
                        "one": {"kind": "anthropic", "base_url": one.base_url, "api_keys": ["k"]},
                        "two": {"kind": "anthropic", "base_url": two.base_url, "api_keys": ["k"]},
                    },
                    "models": {"routing": [{"pattern": "^claude", "providers": [target]}]},
                }
            )

        path = tmp_path / "config.yaml"
        path.write_text(config("one"))
        proc = await _start_router(path)
        url = f"http://127.0.0.1:{port}/v1/messages"
        body = {
            "model": "claude-x",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
        }

        async def answer(http: httpx.AsyncClient) -> str:
            return str((await http.post(url, json=body)).json()["content"][0]["text"])

        async def until(http: httpx.AsyncClient, want: str) -> None:
            for _ in range(100):  # bounded: up to 10 s
                if await answer(http) == want:
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"never answered {want!r}")

        try:
            await _wait_healthy(f"http://127.0.0.1:{port}", proc)
            async with httpx.AsyncClient(timeout=10) as http:
                assert await answer(http) == "from one"
                path.write_text(config("two"))
                proc.send_signal(signal.SIGHUP)
                await until(http, "from two")
                path.write_text("models: {routing: [{pattern: '(', providers: [one]}]}\n")
                proc.send_signal(signal.SIGHUP)
                for _ in range(5):
                    assert await answer(http) == "from two"
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert b"config reload failed; keeping the running config" in out
