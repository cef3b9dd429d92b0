"""A router with one upstream per client format and managed keys in a temp auth dir.

``Upstreams`` runs the three fakes (OpenAI for ``gpt-*``, Anthropic for ``claude-*``,
Gemini for ``gemini-*``), each answering ``usage=(9, 3)``: 12 tokens a request.
``keyed_router`` serves a router whose managed keys live in ``tmp_path``; keys are
made through ``app[CLIENT_KEYS]``, the same object the management API uses.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.keys import CLIENT_KEYS, ClientKey
from suite.config import Config, parse_config
from tests.conftest import private_usage
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, Reply

CONFIG_KEY = "sk-config-unlimited-0123456789"
MGMT = "mgmt-key-for-client-key-tests-0123456789"
MODELS = {
    "chat": "gpt-test",
    "responses": "gpt-test",
    "anthropic": "claude-test",
    "gemini": "gemini-test",
}
TOKENS = (9, 3)


@dataclass
class Upstreams:
    openai: FakeOpenAI
    anthropic: FakeAnthropic
    gemini: FakeGemini

    def calls(self) -> int:
        """Model requests the upstreams received (all three)."""
        return sum(
            1
            for fake in (self.openai, self.anthropic, self.gemini)
            for r in fake.requests
            if not r.path.endswith("/models")
        )


@contextlib.asynccontextmanager
async def upstreams() -> AsyncIterator[Upstreams]:
    async with FakeOpenAI() as oa, FakeAnthropic() as an, FakeGemini() as ge:
        for fake in (oa, an, ge):
            fake.default = Reply(text="hello from upstream", usage=TOKENS)
        yield Upstreams(oa, an, ge)


def router_config(
    ups: Upstreams | None, auth: dict[str, Any], *, server: dict[str, Any] | None = None
) -> Config:
    base = "http://127.0.0.1:9"
    providers = {
        "oa": {
            "kind": "openai-compatible",
            "base_url": ups.openai.base_url if ups else base,
            "api_keys": ["sk-up-oa"],
        },
        "an": {
            "kind": "anthropic",
            "base_url": ups.anthropic.base_url if ups else base,
            "api_keys": ["sk-up-an"],
        },
        "ge": {
            "kind": "gemini",
            "base_url": ups.gemini.base_url if ups else base,
            "api_keys": ["AIza-up-ge"],
        },
    }
    routing = [
        {"pattern": "^(gpt-|other-)", "providers": ["oa"]},
        {"pattern": "^claude-", "providers": ["an"]},
        {"pattern": "^gemini-", "providers": ["ge"]},
    ]
    srv: dict[str, Any] = {
        "api_keys": [CONFIG_KEY],
        "timeouts": {"connect": 2, "first_byte": 5, "idle": 5},
        **(server or {}),
    }
    data = {
        "server": srv,
        "management": {"key": MGMT},
        "auth": auth,
        "providers": providers,
        "models": {"routing": routing},
    }
    return private_usage(parse_config(data, environ={}))


def file_auth(tmp_path: Path) -> dict[str, Any]:
    return {"dir": str(tmp_path / "auth"), "store": "file"}


async def make_key(app: Any, name: str, **fields: Any) -> tuple[ClientKey, str]:
    key, secret = await app[CLIENT_KEYS].create({"name": name, **fields})
    return key, secret
