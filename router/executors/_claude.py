"""``claude-oauth``: Anthropic Messages with a Claude subscription's OAuth token.

The API serves such a token only to Claude Code: the first system block must
be its identity line, the ``oauth-2025-04-20`` beta must be on, and the
request looks like the CLI's (``x-app: cli``, a ``claude-cli`` user agent).
The client's own system text follows the identity line; its ``anthropic-beta``
values are merged with ours.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.auth import Token
from router.errors import BadRequest
from router.formats import Format

from ._base import UpstreamCall, UpstreamReply
from ._signed import SignedInExecutor

__all__ = ["CLAUDE_CODE_IDENTITY", "ClaudeOAuthExecutor", "claude_body", "merge_betas"]

CLAUDE_CODE_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
_IDENTITIES = (
    CLAUDE_CODE_IDENTITY,
    "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
)
_BASE_BETAS = ("oauth-2025-04-20", "claude-code-20250219")
_THINKING_BETA = "interleaved-thinking-2025-05-14"
_TOOLS_BETA = "fine-grained-tool-streaming-2025-05-14"


def _has_identity(system: Any) -> bool:
    if isinstance(system, str):
        return system.startswith(_IDENTITIES)
    if isinstance(system, list) and system and isinstance(system[0], dict):
        text = system[0].get("text")
        return isinstance(text, str) and text.startswith(_IDENTITIES)
    return False


def claude_body(raw: bytes) -> tuple[bytes, dict[str, Any]]:
    """The body with Claude Code's identity as the first system block."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    system = body.get("system")
    if not _has_identity(system):
        identity = {"type": "text", "text": CLAUDE_CODE_IDENTITY}
        if isinstance(system, str) and system:
            body["system"] = [identity, {"type": "text", "text": system}]
        elif isinstance(system, list) and system:
            body["system"] = [identity, *system]
        else:
            body["system"] = [identity]
    return orjson.dumps(body), body


def merge_betas(client: str | None, body: dict[str, Any]) -> str:
    """Ours first, then the client's, each once."""
    wanted = list(_BASE_BETAS)
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        wanted.append(_THINKING_BETA)
    if body.get("tools"):
        wanted.append(_TOOLS_BETA)
    for value in (client or "").split(","):
        if value.strip():
            wanted.append(value.strip())
    return ",".join(dict.fromkeys(wanted))


class ClaudeOAuthExecutor(SignedInExecutor):
    wire = Format.ANTHROPIC
    default_headers = {
        "anthropic-version": "2023-06-01",
        "x-app": "cli",
        "User-Agent": "claude-cli/2.1.0 (external, cli)",
        "anthropic-dangerous-direct-browser-access": "true",
    }

    def url(self, call: UpstreamCall) -> str:
        if call.action == "count_tokens":
            return f"{self.base_url}/v1/messages/count_tokens?beta=true"
        return f"{self.base_url}/v1/messages?beta=true"

    async def send_token(self, call: UpstreamCall, token: Token) -> UpstreamReply:
        data, body = claude_body(call.body)
        forwarded = {k: v for k, v in call.forward_headers.items() if k != "anthropic-beta"}
        headers = {
            **self._static_headers,
            **forwarded,
            "anthropic-beta": merge_betas(call.forward_headers.get("anthropic-beta"), body),
            "Authorization": f"Bearer {token.access}",
        }
        if call.stream:
            headers["Accept"] = "text/event-stream"
        return await self.post(self.url(call), data, headers)
