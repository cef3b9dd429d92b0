"""The executor protocol: one upstream call, like a transport.

An executor knows one upstream's URL layout, headers and auth, and nothing
about routing or client formats. It takes a body already in its own wire
format and answers with an ``UpstreamReply`` or raises an ``UpstreamError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from router.auth import Credential
from router.formats import Format

__all__ = ["Action", "Executor", "UpstreamCall", "UpstreamReply"]

Action = Literal["generate", "count_tokens", "embed", "batch_embed"]


@dataclass(slots=True)
class UpstreamCall:
    """What to send: a body in the executor's wire format, and how."""

    action: Action
    model: str
    body: bytes
    stream: bool
    # Client headers the upstream should see (e.g. anthropic-beta); lower-case names.
    forward_headers: Mapping[str, str] = field(default_factory=dict)
    # Stream framing the client asked for where a format has two (Gemini's alt=sse).
    sse: bool = True
    # The client key's id (a hash, never the key): keeps a conversation's session ids stable.
    client: str = ""
    # Headers that say which client this is (its user agent, Claude Code's X-Stainless-*,
    # Codex's x-codex-*), for the subscription executors; the client's spelling.
    client_headers: Mapping[str, str] = field(default_factory=dict)


class UpstreamReply(Protocol):
    """A successful (2xx) upstream answer, not yet read."""

    status: int
    content_type: str

    def chunks(self) -> AsyncIterator[bytes]:
        """The body piece by piece as it arrives (idle timeout between pieces)."""
        ...

    async def read(self) -> bytes: ...

    def close(self) -> None: ...


class Executor(Protocol):
    """Sends calls to one provider instance. One pooled connection set per executor."""

    wire: Format
    name: str

    async def send(self, call: UpstreamCall, credential: Credential) -> UpstreamReply: ...

    async def close(self) -> None: ...
