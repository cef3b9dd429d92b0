"""What a run sends and where: request bodies, the router's temp config, the preflight check."""

from __future__ import annotations

import http.client
from pathlib import Path
from urllib.parse import urlsplit

import orjson

__all__ = ["Bodies", "bodies", "preflight", "write_router_config"]

PASSTHROUGH_MODEL = "bench-model"
TRANSLATED_MODEL = "bench-claude"
_TERMINATORS = (b"data: [DONE]", b"message_stop")


class Bodies:
    __slots__ = ("plain", "stream", "translated")

    def __init__(self, plain: bytes, stream: bytes, translated: bytes) -> None:
        self.plain = plain
        self.stream = stream
        self.translated = translated


def bodies() -> Bodies:
    """A small, realistic OpenAI Chat Completions request, plain and streaming."""
    base: dict[str, object] = {
        "model": PASSTHROUGH_MODEL,
        "messages": [
            {"role": "system", "content": "You are a terse assistant used by a load test."},
            {"role": "user", "content": "Write fifty words about relays, one per line."},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
    }
    stream = {**base, "stream": True, "stream_options": {"include_usage": True}}
    translated = {**stream, "model": TRANSLATED_MODEL}
    return Bodies(orjson.dumps(base), orjson.dumps(stream), orjson.dumps(translated))


def write_router_config(
    path: Path,
    port: int,
    upstream_port: int,
    level: str,
    observe: bool = True,
    upstream_connections: int = 0,
) -> Path:
    """A config whose only providers are the fake: OpenAI passthrough and Anthropic (translated).
    ``observe=False`` turns usage recording and metrics off (to measure what they cost);
    ``upstream_connections`` sets the providers' pool size (0: the router's default)."""
    up = f"http://127.0.0.1:{upstream_port}"
    workdir = path.parent
    config = {
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "api_keys": [],
            "timeouts": {"connect": 5, "first_byte": 30, "idle": 30},
            "shutdown_grace_seconds": 1,
        },
        "auth": {"dir": str(workdir / "auth"), "store": "file"},
        "providers": {
            "fake-openai": {
                "kind": "openai-compatible",
                "base_url": f"{up}/v1",
                "api_keys": ["sk-bench-openai-0000"],
                "models": [PASSTHROUGH_MODEL],
            },
            "fake-anthropic": {
                "kind": "anthropic",
                "base_url": up,
                "api_keys": ["sk-bench-anthropic-0000"],
                "models": [TRANSLATED_MODEL],
            },
        },
        "models": {
            "routing": [
                {"pattern": f"^{PASSTHROUGH_MODEL}(-paced|-slow)?$", "providers": ["fake-openai"]},
                {
                    "pattern": f"^{TRANSLATED_MODEL}(-paced|-slow)?$",
                    "providers": ["fake-anthropic"],
                },
            ]
        },
        "logging": {"dir": str(workdir / "logs"), "level": level},
        "usage": {"path": str(workdir / f"usage-{port}.sqlite3"), "enabled": observe},
        "metrics": {"enabled": observe},
    }
    if upstream_connections:
        for provider in config["providers"].values():  # type: ignore[attr-defined]
            provider["max_connections"] = upstream_connections
    # JSON is YAML: no YAML writer needed.
    path.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2))
    return path


def preflight(url: str, body: bytes, stream: bool, anthropic: bool = False) -> tuple[bool, str]:
    """One request: does this path answer correctly, in OpenAI's format (or Anthropic's)?
    (ok, short reason)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 80, timeout=10)
    target = f"{u.path}?{u.query}" if u.query else u.path
    try:
        conn.request("POST", target, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if resp.status != 200:
        return False, f"HTTP {resp.status}"
    if stream:
        tail = data[-200:]
        if not any(t in tail for t in _TERMINATORS):
            return False, "stream did not end with its terminator"
        if anthropic:
            ok = data.startswith(b"event: message_start") and b"content_block_delta" in data
            return ok, "ok" if ok else "stream is not in Anthropic's event format"
        if b"chat.completion.chunk" not in data:
            return False, "stream is not in OpenAI chunk format"
        return True, "ok"
    if b'"choices"' not in data:
        return False, "not a chat.completion object"
    return True, "ok"
