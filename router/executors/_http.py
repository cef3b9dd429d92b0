"""The HTTP machinery every API-key executor shares.

One ``aiohttp.ClientSession`` (one connection pool) per provider instance and
proxy (``suite.outbound``), created once and reused for every request; upstream failures are mapped
here, at the edge, into ``router.errors``.

Every read of an answer has its own deadline (``timeouts.idle``), and
aiohttp's ``sock_read`` is not used: it re-arms a timer on every read, and it
is not enough alone, because when an answer's HTTP framing breaks (a chunk
size that is not hex) its parser fails without waking the reader, which would
then wait for ever.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Mapping

import aiohttp
import orjson

from router import __version__
from router.auth import Credential
from router.errors import (
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamInvalidReply,
    UpstreamReplyTooLarge,
    UpstreamTimeout,
)
from router.formats import Format
from suite.config import LimitsConfig, ProviderConfig
from suite.logging import redact
from suite.outbound import Session, SessionPool, new_session
from suite.proxies import InvalidProxy, Proxy, proxy_setting
from suite.secrets import SECRETS

from ._base import (
    UpstreamCall,
    UpstreamReply,
    WholeLines,
    check_json_body,
    check_stream_start,
)

__all__ = ["HTTPExecutor", "HTTPReply", "parse_retry_after", "read_capped"]

_ERROR_BODY_LIMIT = 64 * 1024
USER_AGENT = f"cli-proxy-api/{__version__}"
# A 2xx of these is a page (captive portal, CDN challenge, login), never an API's answer.
_PAGES = frozenset({"text/html", "application/xhtml+xml"})


class HTTPReply:
    """A 2xx upstream response whose body is read lazily, chunk by chunk, each read
    with its deadline, within ``limits`` (see ``router.executors._base``)."""

    __slots__ = (
        "_resp",
        "_name",
        "_idle",
        "_limits",
        "_deadline",
        "status",
        "content_type",
        "headers",
    )

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        name: str = "upstream",
        idle: float = 300.0,
        limits: LimitsConfig | None = None,
    ) -> None:
        self._resp = resp
        self._name = name
        self._idle = idle
        self._limits = limits or LimitsConfig()
        self._deadline = _ReadDeadline(resp.content, idle)
        self.status = resp.status
        self.headers = resp.headers  # e.g. a subscription's plan usage (router.auth.Quota)
        self.content_type = resp.headers.get("Content-Type", "application/json")

    async def chunks(self) -> AsyncIterator[bytes]:
        # SSE goes on in whole lines; a JSON array stream (Gemini without alt=sse) is only
        # ever relayed as it comes, never parsed here, so it passes through untouched.
        lines = None
        if not self.content_type.startswith("application/json"):
            lines = WholeLines(self._limits.max_sse_line_bytes, self._name)
        started = False
        while True:
            chunk = await self._next()
            if lines is None:
                piece = chunk
            else:
                piece = lines.feed(chunk) if chunk else lines.flush()
            if piece:
                if not started:
                    check_stream_start(self._name, piece)
                    started = True
                yield piece
            if not chunk:
                return

    async def read(self) -> bytes:
        limit = self._limits.max_response_bytes
        announced = self._resp.content_length
        if announced is not None and announced > limit:
            raise _too_large(self._name, limit, f"announces {announced} bytes")
        body = bytearray()
        while chunk := await self._next():
            body += chunk
            if len(body) > limit:
                raise _too_large(self._name, limit, "went past it")
        check_json_body(self._name, body, self.content_type)
        return bytes(body)

    async def _next(self) -> bytes:
        """One read (``b""`` at the end), bounded by the idle timeout."""
        try:
            chunk = await self._deadline.read()
        except (_Silent, TimeoutError) as exc:
            self._deadline.stop()
            raise UpstreamTimeout(
                f"{self._name}: upstream went silent for {self._idle:g}s mid-response"
            ) from exc
        except aiohttp.ClientError as exc:
            self._deadline.stop()
            raise UpstreamConnectError(
                f"{self._name}: upstream connection broke: {_reason(exc)}"
            ) from exc
        if not chunk:
            self._deadline.stop()
        return chunk

    def close(self) -> None:
        self._deadline.stop()
        self._resp.release() if self._resp.content.at_eof() else self._resp.close()


class _Silent(Exception):
    """Set on a reader whose upstream said nothing for ``idle`` seconds: wakes the read."""


class _ReadDeadline:
    """The idle deadline of one answer's reads, kept with one timer per ``idle`` seconds
    rather than one per read: a stream is read in dozens of pieces, and arming and
    cancelling a timer around each cost more than the rest of the read.

    When the timer fires it looks at the read in progress: one that has waited
    ``idle`` seconds gets ``_Silent`` set on the reader, which wakes it; otherwise the
    timer moves to the next moment a deadline could pass. Time the consumer spends
    elsewhere (writing to a slow client) does not count, only a read that waits.
    """

    __slots__ = ("_content", "_idle", "_loop", "_began", "_waiting", "_timer")

    def __init__(self, content: aiohttp.StreamReader, idle: float) -> None:
        self._content = content
        self._idle = idle
        self._loop = asyncio.get_running_loop()
        self._began = 0.0
        self._waiting = False
        self._timer: asyncio.TimerHandle | None = None

    async def read(self) -> bytes:
        self._began = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._began + self._idle, self._check)
        self._waiting = True
        try:
            return await self._content.readany()
        finally:
            self._waiting = False

    def _check(self) -> None:
        content = self._content
        if content.at_eof() or content.exception() is not None:
            self._timer = None
            return
        now = self._loop.time()
        if self._waiting and now - self._began >= self._idle - 0.001:
            self._timer = None
            content.set_exception(_Silent())
            return
        start = self._began if self._waiting else now
        self._timer = self._loop.call_at(start + self._idle, self._check)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def read_capped(resp: aiohttp.ClientResponse, limit: int, name: str) -> bytes:
    """The whole body of a side call (the caller bounds it in time), at most ``limit``
    bytes: a bigger one is refused, not held."""
    announced = resp.content_length
    if announced is not None and announced > limit:
        resp.close()
        raise _too_large(name, limit, f"announces {announced} bytes")
    body = bytearray()
    while chunk := await resp.content.readany():
        body += chunk
        if len(body) > limit:
            resp.close()
            raise _too_large(name, limit, "went past it")
    return bytes(body)


def _too_large(name: str, limit: int, how: str) -> UpstreamReplyTooLarge:
    return UpstreamReplyTooLarge(
        f"{name}: upstream answer larger than {limit} bytes ({how};"
        " server.limits.max_response_bytes)"
    )


class HTTPExecutor:
    """Base for executors that speak HTTP to one base URL with API keys."""

    wire: Format = Format.OPENAI
    # Headers the upstream requires that a client may override (e.g. anthropic-version).
    default_headers: Mapping[str, str] = {}

    def __init__(self, provider: ProviderConfig) -> None:
        self.provider = provider
        self.name = provider.name
        self.base_url = provider.base_url
        t = provider.timeouts
        self._first_byte = t.first_byte
        self._idle = t.idle
        # No sock_read: aiohttp would cancel and re-arm its timer on every read of an
        # answer, and each read already has its own idle deadline (_ReadDeadline); the wait
        # for the answer's head is the first-byte timeout's (docs/routing.md).
        self._timeout = aiohttp.ClientTimeout(total=None, connect=t.connect, sock_connect=t.connect)
        self._static_headers = {
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
            "Content-Type": "application/json",
            **self.default_headers,
            **provider.headers,
        }
        # One pooled session per proxy this provider's calls go through (suite.outbound).
        self._sessions = SessionPool(self._new_session)
        # As many upstream connections as the router takes clients (each needs at most one),
        # unless the provider says otherwise: a smaller pool makes streams wait for each other.
        configured = int(provider.options.get("max_connections") or 0)
        self.pool_size = configured or provider.limits.max_connections

    # -- what subclasses say -------------------------------------------------

    def url(self, call: UpstreamCall) -> str:
        raise NotImplementedError

    def auth_headers(self, credential: Credential) -> Mapping[str, str]:
        raise NotImplementedError

    # -- the shared part -----------------------------------------------------

    def session(self, proxy_url: str = "") -> Session:
        """The pooled session through a stored credential's own proxy (``proxy_url``),
        else the provider's (``server.proxy_url`` folded in at load): one per
        (provider, proxy), never one per request."""
        if not proxy_url:
            return self._sessions.get(self.provider.proxy)
        try:
            return self._sessions.get(proxy_setting(proxy_url))
        except InvalidProxy as exc:
            raise UpstreamConnectError(
                f"{self.name}: the credential's proxy_url cannot be used ({exc})"
            ) from None

    def _new_session(self, proxy: Proxy | None) -> Session:
        # No cookie jar (new_session): one account's cookies must never ride along with another's.
        return new_session(
            proxy,
            connector_options={
                "limit": self.pool_size,
                "keepalive_timeout": 30,
                "ttl_dns_cache": 300,
            },
            timeout=self._timeout,
            json_serialize=_json,
        )

    async def send(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        headers = {**self._static_headers, **call.forward_headers, **self.auth_headers(credential)}
        if call.stream:
            headers["Accept"] = "text/event-stream"
        return await self.post(self.url(call), call.body.encoded(), headers)

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], proxy_url: str = ""
    ) -> HTTPReply:
        """POST with the first-byte timeout; errors mapped into ``router.errors``.
        ``proxy_url``: a stored credential's own proxy (``session``)."""
        session = self.session(proxy_url)
        try:
            async with asyncio.timeout(self._first_byte):
                resp = await session.post(url, data=body, headers=headers)
        except aiohttp.ConnectionTimeoutError as exc:  # a TimeoutError too: caught first
            raise UpstreamTimeout(self._no_connection()) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{self.name}: no answer within {self._first_byte:g}s") from exc
        except aiohttp.ServerTimeoutError as exc:
            raise UpstreamTimeout(f"{self.name}: timed out ({_reason(exc)})") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectError(f"{self.name}: unreachable ({_reason(exc)})") from exc
        if resp.status >= 400:
            raise self.refine(await self._error(resp))
        media = resp.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        if media in _PAGES:
            resp.close()
            raise UpstreamInvalidReply(
                f"{self.name}: upstream answered {resp.status} with a {media} page"
                " instead of its API's answer (a captive portal or CDN challenge?)"
            )
        return HTTPReply(resp, self.name, self._idle, self.provider.limits)

    def _no_connection(self) -> str:
        """aiohttp's connect timeout covers the wait for a free connection of the pool as
        well as the connect itself: say which limits were hit, not "no answer"."""
        return (
            f"{self.name}: no connection within {self.provider.timeouts.connect:g}s"
            f" (timeouts.connect; the upstream did not accept, or all {self.pool_size}"
            " connections of the pool were busy: max_connections)"
        )

    async def _error(self, resp: aiohttp.ClientResponse) -> UpstreamHTTPError:
        """The upstream's error, its body read within the idle timeout (it may never come)."""
        try:
            async with asyncio.timeout(self._idle):
                return await _http_error(self.name, resp)
        except TimeoutError:
            resp.close()
            return UpstreamHTTPError(
                resp.status, f"{self.name}: upstream answered {resp.status} (no error body)"
            )

    def refine(self, error: UpstreamHTTPError) -> UpstreamHTTPError:
        """Provider-specific reading of an error (e.g. where it hides the retry delay)."""
        return error

    async def close(self) -> None:
        await self._sessions.close()


async def _http_error(name: str, resp: aiohttp.ClientResponse) -> UpstreamHTTPError:
    try:
        body = await resp.content.read(_ERROR_BODY_LIMIT)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        body = b""
    finally:
        resp.close()
    message = _error_message(body) or resp.reason or "error"
    return UpstreamHTTPError(
        resp.status,
        f"{name}: upstream answered {resp.status}: {redact(message)}",
        body=SECRETS.redact_bytes(body),  # an upstream may quote the key it was sent
        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
        content_type=resp.headers.get("Content-Type", "application/json"),
        headers=limit_headers(resp.headers),
    )


_LIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "x-codex-")


def limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The rate-limit headers of an answer, lower-cased: they say which limit a 429 hit
    (router.scheduling decides from them whether it rests a model or the account)."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith(_LIMIT_PREFIXES)}


def _error_message(body: bytes) -> str:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(obj, list) and obj:
        obj = obj[0]
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
    return ""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason(exc: BaseException) -> str:
    """A short cause without URLs or headers (which could carry secrets)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.os_error.strerror or type(exc.os_error).__name__
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "response cut short"
    return redact(str(exc)) or type(exc).__name__


def _json(obj: object) -> str:
    return orjson.dumps(obj).decode()
