"""The router the fuzzer drives: in-process, in front of working fakes, fed raw bytes.

One loop of its own runs the router and four fakes (Anthropic, OpenAI Chat,
OpenAI Responses, Gemini); each example is one request written as bytes on a
fresh loopback connection, because a client library would refuse to send most
of what the fuzzer makes (header values that are not UTF-8, bodies that are
not JSON). Sign-in endpoints point at a refused loopback port, so management
calls that would reach out fail at once, as a 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from router.app import create_app
from suite.config import parse_config
from tests.conftest import private_usage
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, unused_port

__all__ = ["KEY", "MANAGEMENT_KEY", "SECRETS", "Reply", "Served"]

KEY = "sk-fuzz-client-key-0123456789"
MANAGEMENT_KEY = "mgmt-fuzz-key-0123456789abcdef"
UPSTREAM_KEYS = {
    "a": "sk-ant-fuzz-upstream",
    "o": "sk-oai-fuzz-upstream",
    "g": "AIza-fuzz-upstream",
}
SECRETS = (KEY, MANAGEMENT_KEY, *UPSTREAM_KEYS.values())


class Served:
    """The router and its fakes on a loop of their own, driven example by example."""

    def __init__(self, auth_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.auth_dir = auth_dir
        self.port = 0
        self._closers: list[Callable[[], Any]] = []

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def start(self) -> None:
        a, o, g = FakeAnthropic(), FakeOpenAI(), FakeGemini()
        for fake in (a, o, g):
            fake.record_requests = False
            await fake.start()
            self._closers.append(fake.close)
        dead = f"http://127.0.0.1:{unused_port()}"  # sign-in endpoints: refused at once
        oauth = {"token_url": f"{dead}/token", "authorize_url": f"{dead}/authorize"}
        raw = {
            "server": {
                "api_keys": [KEY],
                "max_body_bytes": 1 << 20,
                "timeouts": {"connect": 2, "first_byte": 10, "idle": 10},
            },
            "management": {"key": MANAGEMENT_KEY},
            "auth": {"dir": str(self.auth_dir)},
            "providers": {
                "a": {
                    "kind": "anthropic",
                    "base_url": a.base_url,
                    "api_keys": [UPSTREAM_KEYS["a"]],
                },
                "o": {
                    "kind": "openai-compatible",
                    "base_url": o.base_url,
                    "api_keys": [UPSTREAM_KEYS["o"]],
                },
                "r": {
                    "kind": "openai-compatible",
                    "base_url": o.base_url,
                    "api_keys": [UPSTREAM_KEYS["o"]],
                    "wire": "responses",
                },
                "g": {"kind": "gemini", "base_url": g.base_url, "api_keys": [UPSTREAM_KEYS["g"]]},
                "claude-login": {
                    "kind": "claude-oauth",
                    "oauth": {**oauth, "redirect_port": unused_port()},
                },
                "codex-login": {
                    "kind": "codex-oauth",
                    "oauth": {**oauth, "redirect_port": unused_port()},
                },
                "cto": {"kind": "ctonew", "clerk_url": dead},
            },
            "models": {
                "routing": [
                    {"pattern": "^alias-chat$", "providers": ["o"], "model": "gpt-4o"},
                    {"pattern": "^claude-", "providers": ["a"]},
                    {"pattern": "^gpt-4", "providers": ["o"]},
                    {"pattern": "^gpt-5", "providers": ["r"]},
                    {"pattern": "^gemini-", "providers": ["g"]},
                    {"pattern": "^text-embedding-3", "providers": ["o"]},
                ]
            },
        }
        server = TestServer(create_app(private_usage(parse_config(raw, environ={}))))
        await server.start_server()
        self._closers.insert(0, server.close)
        self.port = server.port or 0

    async def close(self) -> None:
        for close in self._closers:
            await close()

    async def send(
        self, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Reply:
        """One request on its own connection, as raw bytes; the whole answer back."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            head = [f"{method} {target} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
            head += [b"Connection: close", b"Content-Length: %d" % len(body)]
            head += [name + b": " + value for name, value in headers]
            writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            data = await asyncio.wait_for(reader.read(), timeout=60)
        finally:
            writer.close()
            await writer.wait_closed()
        return Reply.parse(data)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def parse(cls, data: bytes) -> Reply:
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1."), data[:200]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            body = _dechunk(body)
        return cls(int(lines[0].split()[1]), headers, body)


def _dechunk(data: bytes) -> bytes:
    out, at = bytearray(), 0
    while True:
        end = data.index(b"\r\n", at)
        size = int(data[at:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        at = end + 2 + size + 2
