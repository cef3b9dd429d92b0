"""The ``/v1/ws`` hub: services connect here; requests are dispatched to them.

One hub per router process, kept across config reloads (connections outlive
a reload). It authenticates services by ``services.token``, pings each every
``services.ping_seconds`` and drops one silent for ``services.silent_seconds``;
a dropped connection ends every open exchange of it with ``PeerGone``, so the
caller re-dispatches what had not started and ends what had.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from collections.abc import Iterable

import aiohttp
from aiohttp import web

from router.auth import Credential
from router.errors import Unauthorized, UpstreamHTTPError, UpstreamTimeout
from suite.config import ServicesConfig
from suite.logging import get_logger
from suite.relay_protocol import (
    AuthRequest,
    AuthResult,
    Error,
    Frame,
    Hello,
    HttpRequest,
    Ping,
    Pong,
    ProtocolError,
    Status,
    decode,
)
from suite.tasks import spawn

from ._peer import Exchange, Peer, PeerGone

__all__ = ["RelayHub", "gemini_error_body", "relay_error"]

log = get_logger("router.relay")

_MAX_DISPATCH = 4  # attempts across services for one request before giving up
_MAX_MESSAGE = 64 * 1024 * 1024
_DEFAULT_REST = 30.0  # a service that said 429 without a retry_after rests this long
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def gemini_error_body(status: int, message: str) -> bytes:
    """The error body Google's API would send, so Gemini clients read relay errors natively."""
    import orjson

    body = {
        "error": {
            "code": status,
            "message": message,
            "status": _GOOGLE_STATUS.get(status, "UNKNOWN" if status < 500 else "INTERNAL"),
        }
    }
    return orjson.dumps(body)


def relay_error(name: str, err: Error) -> UpstreamHTTPError:
    status = err.status if 400 <= err.status <= 599 else 502
    return UpstreamHTTPError(
        status,
        f"{name}: relay service answered {status}: {err.error}",
        body=gemini_error_body(status, err.error),
        retry_after=err.retry_after,
    )


class RelayHub:
    """Connected services, dispatch by free capacity, and the ``/v1/ws`` endpoint."""

    def __init__(self, services: ServicesConfig) -> None:
        self.settings = services
        self.peers: dict[str, Peer] = {}
        self._credentials: dict[str, Credential] = {}

    def configure(self, services: ServicesConfig) -> None:
        """A reload: new token and timers apply to new connections and the next pings."""
        self.settings = services

    def credential(self, provider: str) -> Credential:
        """The one synthetic credential of a relay provider, kept across reloads so its
        cooldown survives; which service serves is decided per request, here."""
        cred = self._credentials.get(provider)
        if cred is None:
            cred = Credential(id=f"{provider}/relay", provider=provider, secret="")
            self._credentials[provider] = cred
        return cred

    # -- dispatch -------------------------------------------------------------

    def pick(self, exclude: Iterable[str] = ()) -> Peer | None:
        """The usable peer with the most free capacity (ties: the one that served least)."""
        now = time.monotonic()
        skip = set(exclude)
        best: Peer | None = None
        for peer in self.peers.values():
            if peer.id in skip or not peer.usable(now):
                continue
            if best is None or (peer.free(), -peer.served) > (best.free(), -best.served):
                best = peer
        return best

    def _nobody(self, name: str) -> UpstreamHTTPError:
        now = time.monotonic()
        live = [p for p in self.peers.values() if not p.closed]
        if not live:
            msg = "no aistudio service is connected to /v1/ws"
            return UpstreamHTTPError(503, f"{name}: {msg}", body=gemini_error_body(503, msg))
        if all(p.capacity <= 0 for p in live):
            msg = "no profile signed in on the connected aistudio services: run login"
            return UpstreamHTTPError(503, f"{name}: {msg}", body=gemini_error_body(503, msg))
        wake = min((p.resting_until for p in live if p.capacity > 0), default=now)
        msg = "every aistudio service is rate limited"
        return UpstreamHTTPError(
            429,
            f"{name}: {msg}",
            body=gemini_error_body(429, msg),
            retry_after=max(1.0, wake - now),
        )

    async def open(self, name: str, req: HttpRequest, timeout: float) -> tuple[Exchange, Frame]:
        """Send ``req`` to the best service and wait for its first frame.

        A service that disconnects before answering, or answers 429, is skipped
        and the request goes to the next one; ``timeout`` bounds each wait.
        """
        tried: list[str] = []
        limited: Error | None = None
        for _ in range(_MAX_DISPATCH):
            peer = self.pick(tried)
            if peer is None:
                break
            tried.append(peer.id)
            ex = peer.start(str(uuid.uuid4()))
            try:
                await peer.send(ex.id, req)
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                peer.forget(ex.id)
                continue
            try:
                item = await ex.next(timeout)
            except TimeoutError:
                await _cancel_quietly(ex)
                raise UpstreamTimeout(
                    f"{name}: relay service {peer.name} did not answer within {timeout:g}s"
                ) from None
            except asyncio.CancelledError:
                await _cancel_quietly(ex)
                raise
            if isinstance(item, PeerGone):
                log.warning("relay request re-dispatched", peer=peer.name, reason=item.reason)
                continue
            p = item.payload
            if isinstance(p, Error) and p.status == 429:
                peer.rest(p.retry_after if p.retry_after else _DEFAULT_REST)
                log.info("relay service rate limited", peer=peer.name, error=p.error)
                limited = p
                continue
            return ex, item
        if limited is not None:  # every service tried said 429: the provider is rate limited
            err = relay_error(name, limited)
            err.retry_after = limited.retry_after or self._nobody(name).retry_after
            raise err
        raise self._nobody(name)

    async def login(self, profile: str, timeout: float) -> AuthResult:
        """Ask a service of ours (one that said hello) to sign ``profile`` in."""
        ours = [p for p in self.peers.values() if p.hello is not None and not p.closed]
        if not ours:
            return AuthResult(profile, False, "no aistudio service is connected to /v1/ws")
        peer = next((p for p in ours if any(x.name == profile for x in p.profiles)), ours[0])
        ex = peer.start(str(uuid.uuid4()))
        try:
            await peer.send(ex.id, AuthRequest(profile))
            deadline = time.monotonic() + timeout
            while True:
                item = await ex.next(max(0.001, deadline - time.monotonic()))
                if isinstance(item, PeerGone):
                    return AuthResult(profile, False, f"service went away: {item.reason}")
                if isinstance(item.payload, AuthResult):
                    return item.payload
                if isinstance(item.payload, Error):
                    return AuthResult(profile, False, item.payload.error)
        except TimeoutError:
            return AuthResult(profile, False, f"no sign-in within {timeout:g}s")
        finally:
            peer.forget(ex.id)

    # -- the endpoint -----------------------------------------------------------

    def authorize(self, request: web.Request, loopback: bool) -> None:
        token = self.settings.token
        if not token:
            if loopback:
                return
            raise Unauthorized("services.token is not set: only local services may connect")
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        given = value.strip() if scheme.lower() == "bearer" else ""
        given = given or request.query.get("auth_token", "")
        # Header bytes that are not UTF-8 arrive as surrogates: they round-trip (no 500)
        # and match no token.
        presented = given.encode("utf-8", "surrogateescape")
        if not given or not hmac.compare_digest(presented, token.encode()):
            raise Unauthorized("invalid or missing services token")

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """Run one service connection until it closes or goes silent."""
        ws = web.WebSocketResponse(autoping=False, max_msg_size=_MAX_MESSAGE)
        await ws.prepare(request)
        peer = Peer(str(uuid.uuid4()), request.remote or "", ws.send_str, ws.close)
        self.peers[peer.id] = peer
        log.info("relay service connected", peer=peer.name, remote=peer.remote)
        pinger = spawn(self._ping(ws, peer), name=f"relay-ping-{peer.id[:8]}")
        reason = "connection closed by the service"
        try:
            reason = await self._read(ws, peer)
        finally:
            pinger.cancel()
            self.peers.pop(peer.id, None)
            failed = peer.fail_all(reason)
            log.warning(
                "relay service disconnected", peer=peer.name, reason=reason, open_requests=failed
            )
            await ws.close()
        return ws

    async def _read(self, ws: web.WebSocketResponse, peer: Peer) -> str:
        while True:
            silent = self.settings.silent_seconds
            wait = peer.last_seen + silent - time.monotonic()
            if wait <= 0:
                return f"silent for {silent:g}s"
            try:
                msg = await ws.receive(timeout=wait)
            except TimeoutError:
                continue
            peer.last_seen = time.monotonic()
            if msg.type is aiohttp.WSMsgType.TEXT:
                await self._on_frame(peer, msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                await self._on_frame(peer, msg.data)
            elif msg.type is aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is aiohttp.WSMsgType.PONG:
                continue
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                return "connection closed by the service"

    async def _on_frame(self, peer: Peer, data: str | bytes) -> None:
        try:
            frame = decode(data)
        except ProtocolError as exc:
            log.debug("relay frame ignored", peer=peer.name, error=str(exc))
            return
        p = frame.payload
        if isinstance(p, Ping):
            await peer.send(frame.id, Pong())
        elif isinstance(p, Hello):
            peer.on_hello(p)
            log.info(
                "relay service said hello",
                peer=peer.name,
                capacity=p.capacity,
                profiles=[x.state for x in p.profiles],
            )
        elif isinstance(p, Status):
            peer.on_status(p)
        elif isinstance(p, Pong):
            return
        elif not peer.deliver(frame):
            log.debug("relay frame for no open request", peer=peer.name, type=frame.type)

    async def _ping(self, ws: web.WebSocketResponse, peer: Peer) -> None:
        """WebSocket pings (control frames, as CLIProxyAPI sends) every ``ping_seconds``."""
        while not ws.closed:
            await asyncio.sleep(self.settings.ping_seconds)
            try:
                await ws.ping(b"ping")
            except (ConnectionError, RuntimeError):
                return

    def describe(self) -> list[dict[str, object]]:
        return [p.describe() for p in self.peers.values()]

    async def close(self) -> None:
        for peer in list(self.peers.values()):
            await peer.close()


async def _cancel_quietly(ex: Exchange) -> None:
    try:
        await ex.cancel()
    except (ConnectionError, RuntimeError, aiohttp.ClientError):
        pass
