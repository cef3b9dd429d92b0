"""The ``aistudio`` executor: Gemini requests relayed over ``/v1/ws`` to a browser pool.

The request goes out as an ``http_request`` frame carrying the real Gemini URL
and a Gemini body (the failover engine has already translated the client's
format); the service answers with stream frames whose chunks are Gemini SSE
text, relayed to the client as they come. A client that goes away, or a
timeout, sends ``cancel`` so the page stops generating.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp

from router.auth import Credential
from router.errors import (
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamReplyTooLarge,
    UpstreamTimeout,
)
from router.formats import Format
from router.relay import Exchange, PeerGone, RelayHub, gemini_error_body, relay_error
from suite.config import LimitsConfig, ProviderConfig
from suite.relay_protocol import (
    Error,
    Frame,
    HttpRequest,
    HttpResponse,
    StreamChunk,
    StreamEnd,
    StreamStart,
)
from suite.tasks import spawn

from ._base import UpstreamCall, WholeLines

__all__ = ["AIStudioExecutor", "RelayReply"]

_ERROR_BODY_LIMIT = 64 * 1024


class RelayReply:
    """A relayed answer: the frames of one exchange, read lazily."""

    __slots__ = ("_name", "_ex", "_first", "_idle", "_limits", "status", "content_type")

    def __init__(
        self,
        name: str,
        ex: Exchange,
        first: Frame,
        idle: float,
        stream: bool,
        limits: LimitsConfig | None = None,
    ) -> None:
        self._name = name
        self._ex = ex
        self._first: Frame | PeerGone | None = first
        self._idle = idle
        self._limits = limits or LimitsConfig()
        self.status = 200
        self.content_type = "text/event-stream" if stream else "application/json"

    async def chunks(self) -> AsyncIterator[bytes]:
        """Whole lines, as every executor's reply (``router.executors._base``)."""
        lines = WholeLines(self._limits.max_sse_line_bytes, self._name)
        async for piece in self._pieces():
            out = lines.feed(piece)
            if out:
                yield out
        rest = lines.flush()
        if rest:
            yield rest

    async def _pieces(self) -> AsyncIterator[bytes]:
        while True:
            item = self._first
            self._first = None
            if item is None:
                try:
                    item = await self._ex.next(self._idle)
                except TimeoutError:
                    await _cancel(self._ex)
                    raise UpstreamTimeout(
                        f"{self._name}: relay went silent for {self._idle:g}s mid-response"
                    ) from None
            if isinstance(item, PeerGone):
                raise UpstreamConnectError(f"{self._name}: relay service went away: {item.reason}")
            p = item.payload
            if isinstance(p, StreamChunk):
                if p.data:
                    yield p.data.encode()
            elif isinstance(p, HttpResponse):
                if p.body:
                    yield p.body.encode()
                return
            elif isinstance(p, StreamEnd):
                return
            elif isinstance(p, Error):
                raise relay_error(self._name, p)

    async def read(self) -> bytes:
        limit = self._limits.max_response_bytes
        out = bytearray()
        async for chunk in self._pieces():
            out += chunk
            if len(out) > limit:
                raise UpstreamReplyTooLarge(
                    f"{self._name}: relayed answer larger than {limit} bytes"
                    " (server.limits.max_response_bytes)"
                )
        return bytes(out)

    def close(self) -> None:
        if not self._ex.finished:
            spawn(_cancel(self._ex), name="relay-cancel")


class AIStudioExecutor:
    """Sends Gemini calls to whichever connected relay service has room."""

    wire = Format.GEMINI

    def __init__(self, provider: ProviderConfig, hub: RelayHub) -> None:
        self.provider = provider
        self.name = provider.name
        self.base_url = provider.base_url
        self.hub = hub
        self._first_byte = provider.timeouts.first_byte
        self._idle = provider.timeouts.idle
        # "gemini-2.5-pro-aistudio" routes here; AI Studio knows it as "gemini-2.5-pro".
        self._suffix = str(provider.options.get("model_suffix", "-aistudio") or "")

    def url(self, call: UpstreamCall) -> str:
        name = call.model
        if self._suffix and name.endswith(self._suffix):
            name = name[: -len(self._suffix)]
        model = quote(name, safe="")
        if call.action == "count_tokens":
            return f"{self.base_url}/v1beta/models/{model}:countTokens"
        if call.stream:
            suffix = "?alt=sse" if call.sse else ""
            return f"{self.base_url}/v1beta/models/{model}:streamGenerateContent{suffix}"
        return f"{self.base_url}/v1beta/models/{model}:generateContent"

    async def send(self, call: UpstreamCall, credential: Credential) -> RelayReply:
        headers = {"Content-Type": ("application/json",)}
        for k, v in call.forward_headers.items():
            headers[k] = (v,)
        req = HttpRequest(
            method="POST",
            url=self.url(call),
            headers=headers,
            body=call.body.encoded().decode("utf-8", "replace"),
            sent_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        )
        started = time.monotonic()
        ex, first = await self.hub.open(self.name, req, self._first_byte)
        p = first.payload
        if isinstance(p, Error):
            raise relay_error(self.name, p)
        if isinstance(p, HttpResponse) and p.status >= 400:
            raise _http_error(self.name, p.status, p.body.encode())
        if isinstance(p, StreamStart) and p.status >= 400:
            left = max(1.0, self._first_byte - (time.monotonic() - started))
            raise _http_error(self.name, p.status, await _error_body(ex, left))
        return RelayReply(self.name, ex, first, self._idle, call.stream, self.provider.limits)

    async def close(self) -> None:
        """The hub outlives executors (it is the router's); nothing of ours to close."""


async def _error_body(ex: Exchange, timeout: float) -> bytes:
    """The chunks that follow an error ``stream_start``, up to its end (bounded)."""
    body = bytearray()
    try:
        while len(body) < _ERROR_BODY_LIMIT:
            item = await ex.next(timeout)
            if isinstance(item, PeerGone):
                break
            p = item.payload
            if isinstance(p, StreamChunk):
                body += p.data.encode()
            elif isinstance(p, StreamEnd | Error | HttpResponse):
                break
    except TimeoutError:
        await _cancel(ex)
    return bytes(body)


def _http_error(name: str, status: int, body: bytes) -> UpstreamHTTPError:
    text = body[:500].decode("utf-8", "replace").strip() or "error"
    if not body.lstrip().startswith(b"{"):
        body = gemini_error_body(status, text)
    return UpstreamHTTPError(status, f"{name}: relay service answered {status}: {text}", body=body)


async def _cancel(ex: Exchange) -> None:
    try:
        await ex.cancel()
    except (ConnectionError, RuntimeError, aiohttp.ClientError):
        pass
