"""The executor protocol: one upstream call, like a transport.

An executor knows one upstream's URL layout, headers and auth, and nothing
about routing or client formats. It takes a body already in its own wire
format and answers with an ``UpstreamReply`` or raises an ``UpstreamError``.

The body comes as a ``WireBody``: data the router has parsed (or translated)
once, and bytes made once, at the end. An executor that changes the request
(the subscription shapes, a model suffix) changes ``call.body.edit()`` and
sends ``call.body.encoded()``: nothing is parsed again, and nothing is
serialized before its last change. Each attempt gets a body of its own
(``WireBody.fork``), so one executor's edits never reach the next candidate.

What every reply promises (``server.limits``, docs/routing.md): each read has
a deadline of its own; a piece of an SSE stream always ends at a line end, and
no line is held past ``max_sse_line_bytes`` (Gemini's JSON-array stream, which
the router only relays, passes as it comes); ``read()`` refuses a body over
``max_response_bytes``; and neither lets an HTML page pass as an answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from router.auth import Credential
from router.errors import UpstreamInvalidReply, UpstreamReplyTooLarge
from router.formats import Format, WireBody, ir

__all__ = [
    "Action",
    "Executor",
    "UpstreamCall",
    "UpstreamReply",
    "WholeLines",
    "check_json_body",
    "check_stream_start",
]

Action = Literal["generate", "count_tokens", "embed", "batch_embed"]


@dataclass(slots=True)
class UpstreamCall:
    """What to send: a body in the executor's wire format, and how."""

    action: Action
    model: str
    body: WireBody
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
    # The request in the canonical form, when the router made it (a translated call):
    # an executor that needs it (cto.new's one prompt) need not read the body again.
    request: ir.Request | None = None


class UpstreamReply(Protocol):
    """A successful (2xx) upstream answer, not yet read."""

    status: int
    content_type: str

    def chunks(self) -> AsyncIterator[bytes]:
        """The body piece by piece as it arrives (idle timeout between pieces), each
        piece ending at a line end."""
        ...

    async def read(self) -> bytes:
        """The whole body, bounded in size; for a 2xx it is JSON."""
        ...

    def close(self) -> None: ...


class Executor(Protocol):
    """Sends calls to one provider instance. One pooled connection set per executor."""

    wire: Format
    name: str

    async def send(self, call: UpstreamCall, credential: Credential) -> UpstreamReply: ...

    async def close(self) -> None: ...


class WholeLines:
    """Cuts a stream at line ends, holding back the unfinished last line.

    An SSE line is of no use to anyone until its line end arrives, so holding it
    back costs no latency; in exchange, what goes on (to the client, the watcher,
    the translator) never stops mid-line, a stream cut short ends at a line
    boundary, and one line that never ends is refused at ``limit`` bytes instead
    of growing without bound. The common piece (ending at ``\\n``, nothing held)
    passes through untouched; held parts are joined once, so the cost is linear.
    A lone ``\\r`` counts as a line end, as SSE says.
    """

    __slots__ = ("limit", "_name", "_held", "_size")

    def __init__(self, limit: int, name: str) -> None:
        self.limit = limit
        self._name = name
        self._held: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> bytes:
        """The complete lines now available (``b""`` while a line is still open)."""
        end = chunk.rfind(b"\n")
        if end == len(chunk) - 1 and not self._held:
            return chunk
        end = max(end, chunk.rfind(b"\r", end + 1))
        if end < 0:
            self._hold(chunk)
            return b""
        head = chunk if end == len(chunk) - 1 else chunk[: end + 1]
        if self._held:
            self._held.append(head)
            head = b"".join(self._held)
            self._held, self._size = [], 0
        if end < len(chunk) - 1:
            self._hold(chunk[end + 1 :])
        return head

    def flush(self) -> bytes:
        """The stream ended: whatever was held (a last line without its line end)."""
        rest = b"".join(self._held)
        self._held, self._size = [], 0
        return rest

    def _hold(self, part: bytes) -> None:
        self._size += len(part)
        if self._size > self.limit:
            self._held, self._size = [], 0
            raise UpstreamReplyTooLarge(
                f"{self._name}: upstream sent a stream line longer than {self.limit} bytes"
                " (server.limits.max_sse_line_bytes)"
            )
        self._held.append(part)


def check_stream_start(name: str, piece: bytes) -> None:
    """The first piece of a stream is SSE (or Gemini's JSON array), not markup."""
    if piece[:256].lstrip()[:1] == b"<":
        raise UpstreamInvalidReply(
            f"{name}: upstream streamed a markup page (HTML) instead of its API's events"
        )


def check_json_body(name: str, body: bytes | bytearray, content_type: str) -> None:
    """A 2xx body is the API's JSON: it starts like an object or an array (a page or an
    empty body does not; whether the JSON is whole, the parse that reads it finds out)."""
    start = bytes(body[:256]).lstrip()[:1]
    if start not in (b"{", b"["):
        what = "an empty body" if not start else f"a body that is not JSON ({content_type})"
        raise UpstreamInvalidReply(f"{name}: upstream answered 2xx with {what}")
