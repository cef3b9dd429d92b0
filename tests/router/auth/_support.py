"""Configs, stored credentials and router processes for the sign-in tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from router.auth import AuthRecord
from suite.config import Config, parse_config
from tests.fakes import unused_port

ROOT = Path(__file__).resolve().parents[3]
CLIENT_KEY = "sk-client-test-key-0123456789"
MANAGEMENT_KEY = "mgmt-key-test-0123456789abcdef"


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def provider_configs(
    *,
    claude: Any = None,
    codex: Any = None,
    openai: Any = None,
    anthropic: Any = None,
    cto: Any = None,
    lead: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Providers of the three signed-in kinds pointed at fakes (None: left out)."""
    out: dict[str, dict[str, Any]] = {}
    extra = {} if lead is None else {"refresh_lead_seconds": lead}
    if claude is not None and anthropic is not None:
        out["llmux-claude"] = {
            "kind": "claude-oauth",
            "base_url": anthropic.base_url,
            "oauth": {
                "authorize_url": claude.authorize_url,
                "token_url": claude.token_url,
                "paste_redirect_uri": claude.paste_redirect_uri,
                "redirect_port": unused_port(),
            },
            **extra,
        }
    if codex is not None and openai is not None:
        out["llmux-chatgpt"] = {
            "kind": "codex-oauth",
            "base_url": openai.codex_base_url,
            "oauth": {
                "authorize_url": codex.authorize_url,
                "token_url": codex.token_url,
                "redirect_port": unused_port(),
            },
            **extra,
        }
    if cto is not None:
        out["ctonew"] = {
            "kind": "ctonew",
            "base_url": cto.base_url,
            "clerk_url": cto.base_url,
            "ws_url": cto.ws_url,
        }
    return out


def routing_for(providers: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rules = []
    if "ctonew" in providers:
        rules.append({"pattern": r"^(glm-|gpt-5\.4|gpt-4|gemini-3)", "providers": ["ctonew"]})
    if "llmux-claude" in providers:
        rules.append({"pattern": "^claude-", "providers": ["llmux-claude"]})
    if "llmux-chatgpt" in providers:
        rules.append({"pattern": "^gpt-5", "providers": ["llmux-chatgpt"]})
    return rules


def raw_config(
    providers: dict[str, dict[str, Any]],
    auth: dict[str, Any],
    *,
    port: int = 0,
    api_keys: list[str] | None = None,
    management: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "server": {
            "port": port,
            "api_keys": api_keys or [],
            "timeouts": {"connect": 2, "first_byte": 10, "idle": 10},
            "shutdown_grace_seconds": 1,
        },
        "management": management or {"key": MANAGEMENT_KEY},
        "auth": {"poll_seconds": 0.1, **auth},
        "providers": providers,
        "models": {"routing": routing_for(providers)},
    }


def config(providers: dict[str, dict[str, Any]], auth: dict[str, Any], **kw: Any) -> Config:
    return parse_config(raw_config(providers, auth, **kw), environ={})


def claude_record(
    access: str, refresh: str, expires: float, email: str = "user@example.com"
) -> AuthRecord:
    """A token file as CLIProxyAPI writes it."""
    data = {
        "id_token": "",
        "access_token": access,
        "refresh_token": refresh,
        "last_refresh": rfc3339(time.time()),
        "email": email,
        "type": "claude",
        "expired": rfc3339(expires),
    }
    return AuthRecord(f"claude-{email}", "claude", data)


def write_cliproxy_file(directory: Path, record: AuthRecord) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{record.name}.json"
    path.write_bytes(orjson.dumps(dict(record.data), option=orjson.OPT_INDENT_2))
    path.chmod(0o600)
    return path


async def wait_for(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``check`` until true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class RouterProcess:
    proc: asyncio.subprocess.Process
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), timeout=20)


async def start_router_process(
    tmp: Path, cfg: dict[str, Any], name: str = "router"
) -> RouterProcess:
    """``python -m router`` on a free port with ``cfg``; healthy or AssertionError."""
    port = unused_port()
    cfg = {**cfg, "server": {**cfg["server"], "port": port}}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log = tmp / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_")}
    env["CLIPROXY_CONFIG"] = str(path)
    with open(log, "ab") as out:
        proc = await asyncio.create_subprocess_exec(  # noqa: TID251
            sys.executable,
            "-m",
            "router",
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise AssertionError(f"{name} exited at start:\n{log.read_text()}")
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return RouterProcess(proc, url, log)
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError(f"{name} did not become healthy:\n{log.read_text()}")


def codex_record(oauth: Any, expires: float, email: str = "user@example.com") -> AuthRecord:
    """A ``codex-<email>.json`` as CLIProxyAPI writes it, with fresh tokens from the fake."""
    access, refresh = oauth.issue()
    data = {
        "id_token": "",
        "access_token": access,
        "refresh_token": refresh,
        "account_id": oauth.account_id,
        "last_refresh": rfc3339(time.time()),
        "email": email,
        "type": "codex",
        "expired": rfc3339(expires),
    }
    return AuthRecord(f"codex-{email}", "codex", data)


def ctonew_record(cto: Any, index: int = 0) -> AuthRecord:
    """A stored cto.new sign-in whose JWT has lapsed (the first use fetches one)."""
    acc = cto.accounts[index]
    data = {
        "type": "ctonew",
        "email": acc.email,
        "client_cookie": acc.cookie,
        "session_id": acc.session,
        "user_id": acc.user,
        "org_id": acc.org,
        "expired": rfc3339(time.time() - 5),
    }
    return AuthRecord(f"ctonew-{acc.email}", "ctonew", data)
