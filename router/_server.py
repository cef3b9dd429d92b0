"""The HTTP server that faces clients, held to ``server.limits``.

aiohttp's own defaults let one client keep a connection, and the memory behind
it, for as long as it likes: request headers may trickle in until the keep-alive
timer fires (an hour under a test runner), they may reach 8 MB (128 lines of
64 KB), and connections are not counted at all, so a few thousand idle sockets
use up the descriptors ``/healthz`` and the upstream calls need. Here every
connection answers to these bounds, checked where its bytes arrive (no task and
no polling per connection):

* a request's head (request line and headers) is at most ``max_header_bytes``
  (else 431 and the connection closes) and complete within ``header_seconds``
  of its first byte, or of the connection's start (else 408, or a plain close
  when nothing came at all);
* an idle keep-alive connection closes after ``keepalive_seconds`` (aiohttp's
  own timer, set through the handler arguments of :func:`handler_args`);
* at most ``max_connections`` are open at once (fewer when the descriptor limit
  is low). One more makes room by closing the oldest connection that is not
  serving a request (idle, or still sending its head): a flood of idle sockets
  pushes out its own members, not the clients being served. When every open
  connection is serving, the newcomer gets 503.

Bodies are bounded in time where they are read (``router.api``), because only
the handler knows when it reads one.

:class:`RouterRunner` is an ``AppRunner`` that builds this server; ``python -m
router`` and the tests' router fixture both use it, so the limits under test
are the ones that run. It reaches into aiohttp's request handler for two things
its API does not offer (whether a connection is between requests, and the
request heads its parser has queued); ``tests/router/api/test_slow_clients.py``
fails if an aiohttp upgrade changes them.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from router.api import STATE
from router.errors import ErrorKind
from router.formats import Format, error_body
from suite.config import LimitsConfig
from suite.logging import get_logger

__all__ = ["BACKLOG", "RouterRunner", "connection_cap", "handler_args", "raise_descriptor_limit"]

log = get_logger("router.server")

# Connections the kernel queues before accept (aiohttp's default). The event loop
# accepts up to this many at once before any of them is counted, and those closed
# to make room free their descriptors one loop turn later: the cap leaves room for
# twice this many, so that accept never fails for want of a descriptor (asyncio
# then stops accepting for a second, /healthz included).
BACKLOG = 128
# Descriptors kept back besides: listening sockets, log files, the usage database,
# the relay, the health probe.
_RESERVED_FDS = 64 + 2 * BACKLOG
# How many busy connections one admission looks past for an idle one to close;
# those it passed go to the back of the line, so the next look starts elsewhere.
_SCAN = 64
_LOG_EVERY = 10.0


def handler_args(limits: LimitsConfig) -> dict[str, Any]:
    """aiohttp request-handler arguments: header parser bounds and the idle keep-alive time.

    Set on the app (``handler_args``), so every runner gets them; the total head
    size and the head time need :class:`RouterRunner`.
    """
    size = limits.max_header_bytes
    return {
        "max_line_size": size,
        "max_field_size": size,
        "max_headers": 128,
        "keepalive_timeout": limits.keepalive_seconds,
        # After answering without reading the whole body (401, 408, 413), aiohttp reads
        # and drops the rest so the client sees the answer rather than a reset; a client
        # too slow for its body must not hold the connection longer for it.
        "lingering_time": min(10.0, limits.body_idle_seconds),
    }


def raise_descriptor_limit() -> int:
    """Raise this process's soft descriptor limit to its hard limit; return the new soft one.

    Called by the entry point: a 1,024 soft limit is common, and the hard limit
    is what the administrator allowed.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # e.g. an infinite hard limit the kernel caps lower
            pass
    return soft


def connection_cap(limits: LimitsConfig) -> int:
    """``max_connections``, lowered so that each client connection has a descriptor
    left for its upstream call, besides :data:`_RESERVED_FDS`."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections
    return max(16, min(limits.max_connections, (soft - _RESERVED_FDS) // 2))


def _raw(status: int, reason: str, kind: ErrorKind, message: str, extra: str = "") -> bytes:
    """A complete response written straight to the socket: there is no request to answer
    through the app (its head never arrived, or it was never read). OpenAI's error shape,
    as for any path whose client format is unknown."""
    body = error_body(Format.OPENAI, status, kind, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


class _Tally:
    """Counts enforcements and logs them at most once per :data:`_LOG_EVERY` seconds:
    an attack must not turn into a flood of log lines."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._logged = 0.0

    def note(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        now = time.monotonic()
        if now - self._logged >= _LOG_EVERY:
            self._logged = now
            log.warning("client limits enforced (counts since the last line)", **self.counts)
            self.counts = {}


class LimitedServer(web.Server):
    """aiohttp's low-level server with a connection count and per-connection head bounds."""

    def __init__(self, base: web.Server, limits: LimitsConfig, cap: int) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            **base._kwargs,
        )
        self.limits = limits
        self.cap = cap
        self.tally = _Tally()
        # Open connections, oldest first (dicts keep insertion order).
        self._open: dict[_Connection, None] = {}
        size, wait = limits.max_header_bytes, limits.header_seconds
        self.too_large = _raw(
            431,
            "Request Header Fields Too Large",
            ErrorKind.REQUEST_TOO_LARGE,
            f"request headers are larger than {size} bytes (server.limits.max_header_bytes)",
        )
        self.too_slow = _raw(
            408,
            "Request Timeout",
            ErrorKind.TIMEOUT,
            f"request headers did not arrive within {wait:g} s (server.limits.header_seconds)",
        )
        self.busy = _raw(
            503,
            "Service Unavailable",
            ErrorKind.OVERLOADED,
            f"the router is serving its limit of {cap} connections; retry shortly",
            "Retry-After: 1\r\n",
        )

    def __call__(self) -> RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def admit(self, conn: _Connection) -> None:
        """Count a new connection; past the cap, close an idle one or refuse this one."""
        self._open[conn] = None
        if len(self._open) <= self.cap:
            return
        victim = self._idle_victim(conn)
        if victim is not None:
            self._open.pop(victim, None)
            victim.force_close()
            self.tally.note("idle_closed_at_cap")
        else:
            self._open.pop(conn, None)
            conn.refuse(self.busy)
            self.tally.note("refused_at_cap")

    def forget(self, conn: _Connection) -> None:
        self._open.pop(conn, None)

    def _idle_victim(self, newcomer: _Connection) -> _Connection | None:
        passed: list[_Connection] = []
        victim = None
        for conn in self._open:
            if conn is newcomer:
                continue
            if conn.between_requests:
                victim = conn
                break
            passed.append(conn)
            if len(passed) >= _SCAN:
                break
        for conn in passed:  # serving: to the back of the line
            del self._open[conn]
            self._open[conn] = None
        return victim


class _Connection(RequestHandler):
    """One client connection: bounds the size and the time of each request head."""

    __slots__ = ("_body", "_clock", "_head_bytes", "_limited")

    def __init__(self, server: LimitedServer, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self._limited = server
        self._clock: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._body: Any = None  # the body stream of the newest request head parsed

    @property
    def between_requests(self) -> bool:
        """Waiting for a request: idle, or still receiving its head. (aiohttp's own
        keep-alive check asks the same question the same way.)"""
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_clock()
        self._limited.admit(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_clock()
        self._limited.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        queued = len(self._messages)
        body = self._body
        # Asked before the parser runs: the chunk that completes a body is body bytes too.
        in_body = body is not None and not body.is_eof()
        super().data_received(data)
        messages = self._messages
        if len(messages) > queued:  # one or more heads ended in this chunk
            self._body = messages[-1][1]
            self._head_bytes = 0
            self._stop_clock()
            return
        if not data or self._upgraded or self._force_close:
            return
        if in_body:
            return  # body bytes: bounded in time where the handler reads them
        self._head_bytes += len(data)
        # No answer while a response may be under way (a head pipelined behind a request).
        can_answer = body is None or self.between_requests
        if self._head_bytes > self._limited.limits.max_header_bytes:
            self._limited.tally.note("header_too_large")
            self.refuse(self._limited.too_large if can_answer else None)
        elif self._clock is None and can_answer:
            self._start_clock()

    def refuse(self, answer: bytes | None) -> None:
        """Write ``answer`` (if any) and close once it is sent."""
        self._stop_clock()
        transport = self.transport
        if answer is not None and transport is not None and not transport.is_closing():
            transport.write(answer)
        self.force_close()

    def _start_clock(self) -> None:
        self._clock = self._loop.call_later(
            self._limited.limits.header_seconds, self._head_too_slow
        )

    def _stop_clock(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _head_too_slow(self) -> None:
        self._clock = None
        if not self.between_requests:
            return  # a request is being served: the head was complete after all
        self._limited.tally.note("header_timeout" if self._head_bytes else "silent_timeout")
        self.refuse(self._limited.too_slow if self._head_bytes else None)


class RouterRunner(web.AppRunner):
    """An ``AppRunner`` whose server holds clients to the app's ``server.limits``.

    A client that closes its connection cancels its handler (``handler_cancellation``),
    and with it the upstream call it waits on: aiohttp's test server does so, its
    ``run_app`` does not, and the router behaves the same under both.
    """

    __slots__ = ()

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs["handler_cancellation"] = True
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        base = await super()._make_server()
        limits = self.app[STATE].current.config.server.limits
        cap = connection_cap(limits)
        if cap < limits.max_connections:
            log.warning(
                "server.limits.max_connections lowered to fit the descriptor limit",
                configured=limits.max_connections,
                effective=cap,
                nofile=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )
        return LimitedServer(base, limits, cap)
