"""What the official subscription clients look like on the wire, in one place.

A Claude Pro/Max or ChatGPT subscription token is served only to requests
that look like Claude Code or Codex CLI, so the subscription executors copy
those clients: versions, header names, values and order, Claude Code's beta
list (its order is itself a fingerprint), the billing entrypoint, identity
lines, Codex's originator and user agent. The defaults come from the
captures in ``shared/fixtures/subscription/`` (Claude Code 2.1.337, Codex
CLI 0.171.0); ``providers.X.client`` in the config overrides them, so a new
client release needs a config change, not a code change
(docs/credentials.md says how to read a new capture).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD

from router.formats import Format

__all__ = [
    "AGENT_SDK_IDENTITY",
    "CLAUDE_CODE_IDENTITY",
    "IDENTITIES",
    "ClaudeProfile",
    "CodexProfile",
    "accept_encoding",
    "client_headers",
    "with_oauth_beta",
]

CLAUDE_CODE_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
AGENT_SDK_IDENTITY = "You are a Claude agent, built on Anthropic's Claude Agent SDK."
IDENTITIES = (CLAUDE_CODE_IDENTITY, AGENT_SDK_IDENTITY)

# Claude Code 2.1.337's anthropic-beta, in its order: `claude -p` (sdk-cli) and interactive.
_SDK_CLI_BETAS = (
    "claude-code-20250219",
    "oauth-2025-04-20",
    "interleaved-thinking-2025-05-14",
    "context-management-2025-06-27",
    "per-turn-control-2026-07-01",
    "mid-conversation-tool-changes-2026-07-01",
    "thinking-token-count-2026-05-13",
    "advanced-tool-use-2025-11-20",
    "effort-2025-11-24",
    "extended-cache-ttl-2025-04-11",
)
_CLI_BETAS = (
    *_SDK_CLI_BETAS[:-1],
    "dangerous-tool-use-2026-09-03",
    "thinking-display-updates-2026-08-18",
    "afk-mode-2026-01-31",
    _SDK_CLI_BETAS[-1],
)
# Betas that became defaults: a client still sending them does not need them added.
_RETIRED_BETAS = frozenset(
    {
        "prompt-caching-2024-07-31",
        "fine-grained-tool-streaming-2025-05-14",
        "token-efficient-tools-2025-02-19",
    }
)
_OAUTH_BETA = "oauth-2025-04-20"


def accept_encoding(wanted: str) -> str:
    """``wanted`` without the encodings this process cannot decode (an answer in one
    would be unreadable): zstd needs aiohttp's zstd support, br needs brotli."""
    decodable = {"gzip", "deflate", "identity"}
    if HAS_BROTLI:
        decodable.add("br")
    if HAS_ZSTD:
        decodable.add("zstd")
    parts = [p.strip() for p in wanted.split(",")]
    kept = [p for p in parts if p.split(";")[0].strip() in decodable]
    sep = ", " if ", " in wanted else ","
    return sep.join(kept) or "gzip"


@dataclass(frozen=True, slots=True)
class ClaudeProfile:
    """Claude Code as a subscription client (``claude -p`` by default: ``sdk-cli``)."""

    version: str = "2.1.337"
    entrypoint: str = "sdk-cli"  # "cli" is the interactive session
    betas: tuple[str, ...] = ()  # empty: the entrypoint's own list
    sdk_version: str = "0.128.0"  # the Anthropic JS SDK inside (X-Stainless-Package-Version)
    node_version: str = "v26.12.1"
    os: str = "Linux"
    arch: str = "x64"
    cch: bool | str = "auto"  # the body hash in the billing header; auto: the real API only

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ClaudeProfile:
        profile: ClaudeProfile = _apply(cls(), options.get("client"))
        return profile

    @property
    def beta_list(self) -> tuple[str, ...]:
        if self.betas:
            return self.betas
        return _CLI_BETAS if self.entrypoint == "cli" else _SDK_CLI_BETAS

    @property
    def identity(self) -> str:
        return CLAUDE_CODE_IDENTITY if self.entrypoint == "cli" else AGENT_SDK_IDENTITY

    @property
    def user_agent(self) -> str:
        return f"claude-cli/{self.version} (external, {self.entrypoint})"

    def wants_cch(self, base_url: str) -> bool:
        if self.cch == "auto":
            return base_url.rstrip("/") == "https://api.anthropic.com"
        return self.cch is True

    def merge_betas(self, client: str | None) -> str:
        """Claude Code's list in its order, then what the client asks for beyond it."""
        out = list(self.beta_list)
        for value in (client or "").split(","):
            beta = value.strip()
            if beta and beta not in out and beta not in _RETIRED_BETAS:
                out.append(beta)
        return ",".join(out)

    def headers(self, session_id: str, betas: str) -> dict[str, str]:
        """Claude Code's request headers in its order (Authorization goes in second)."""
        return {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            "X-Claude-Code-Session-Id": session_id,
            "X-Stainless-Arch": self.arch,
            "X-Stainless-Lang": "js",
            "X-Stainless-OS": self.os,
            "X-Stainless-Package-Version": self.sdk_version,
            "X-Stainless-Retry-Count": "0",
            "X-Stainless-Runtime": "node",
            "X-Stainless-Runtime-Version": self.node_version,
            "X-Stainless-Timeout": "600",
            "anthropic-beta": betas,
            "anthropic-dangerous-direct-browser-access": "true",
            "anthropic-version": "2023-06-01",
            "x-app": "cli",
            "Accept-Encoding": accept_encoding("gzip, deflate, br, zstd"),
        }


def with_oauth_beta(betas: str) -> str:
    """A Claude Code beta list signed in with OAuth: ``oauth-2025-04-20`` right after
    ``claude-code-20250219`` (where Claude Code puts it), unless already there."""
    items = [b.strip() for b in betas.split(",") if b.strip()]
    if _OAUTH_BETA in items:
        return ",".join(items)
    at = items.index("claude-code-20250219") + 1 if "claude-code-20250219" in items else 0
    items.insert(at, _OAUTH_BETA)
    return ",".join(items)


@dataclass(frozen=True, slots=True)
class CodexProfile:
    """Codex CLI as a subscription client (``codex exec`` by default)."""

    version: str = "0.171.0"
    originator: str = "codex_exec"  # codex-tui interactive; codex_cli_rs older
    os: str = "Debian 12.0.0"
    arch: str = "x86_64"
    terminal: str = "dumb"

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> CodexProfile:
        profile: CodexProfile = _apply(cls(), options.get("client"))
        return profile

    @property
    def short_user_agent(self) -> str:
        """What Codex sends on its account calls (``wham/*``)."""
        return f"{self.originator}/{self.version} ({self.os}; {self.arch}) {self.terminal}"

    @property
    def user_agent(self) -> str:
        return f"{self.short_user_agent} ({self.originator}; {self.version})"

    def headers(self, session_id: str) -> dict[str, str]:
        """Codex's headers in its order, without its ``x-codex-*`` turn metadata
        (only Codex itself has those; they are passed through from it)."""
        return {
            "version": self.version,
            "x-client-request-id": session_id,
            "session-id": session_id,
            "thread-id": session_id,
            "accept": "text/event-stream",
            "content-type": "application/json",
        }

    def trailer(self) -> dict[str, str]:
        """The headers Codex sends after ``authorization`` / ``chatgpt-account-id``."""
        return {
            "originator": self.originator,
            "user-agent": self.user_agent,
            "accept-encoding": accept_encoding("zstd,gzip"),
        }


@dataclass(frozen=True, slots=True)
class _Names:
    exact: frozenset[str]
    prefixes: tuple[str, ...]


# Client headers that say which client this is: a subscription executor keeps them when
# the client is Claude Code or Codex itself (lower-case names).
_CLIENT_HEADERS = {
    Format.ANTHROPIC: _Names(
        frozenset(
            {
                "user-agent",
                "x-claude-code-session-id",
                "x-app",
                "anthropic-dangerous-direct-browser-access",
            }
        ),
        ("x-stainless-",),
    ),
    Format.RESPONSES: _Names(
        frozenset(
            {
                "user-agent",
                "originator",
                "version",
                "session-id",
                "session_id",
                "thread-id",
                "x-client-request-id",
            }
        ),
        ("x-codex-", "x-openai-"),
    ),
}


def client_headers(headers: Mapping[str, str], fmt: Format) -> Mapping[str, str]:
    """The identifying headers of a client request (for ``UpstreamCall.client_headers``),
    picked out when first read: only the subscription executors read them, and picking
    them out of an agent's twenty headers costs a passthrough more than its splice."""
    return _ClientHeaders(headers, fmt)


class _ClientHeaders(Mapping[str, str]):
    __slots__ = ("_headers", "_fmt", "_picked")

    def __init__(self, headers: Mapping[str, str], fmt: Format) -> None:
        self._headers = headers
        self._fmt = fmt
        self._picked: dict[str, str] | None = None

    def _pick(self) -> dict[str, str]:
        picked = self._picked
        if picked is None:
            picked = self._picked = {}
            names = _CLIENT_HEADERS.get(self._fmt)
            if names is not None:
                for name, value in self._headers.items():
                    low = name.lower()
                    if low in names.exact or low.startswith(names.prefixes):
                        picked[name] = value  # the client's spelling: sent on as it came
        return picked

    def __getitem__(self, name: str) -> str:
        return self._pick()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pick())

    def __len__(self) -> int:
        return len(self._pick())

    def __repr__(self) -> str:
        return f"ClientHeaders({self._pick()!r})"


def _apply(profile: Any, client: Any) -> Any:
    """``profile`` with the config's ``client`` values (checked by suite.config)."""
    if not isinstance(client, Mapping) or not client:
        return profile
    changes = {k: v for k, v in client.items() if k in profile.__dataclass_fields__}
    if "betas" in changes:
        changes["betas"] = tuple(str(b) for b in changes["betas"])
    return replace(profile, **changes)
