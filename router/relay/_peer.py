"""One connected relay service (a WebSocket peer) and the requests it carries.

A peer is either our own aistudio service (it says ``hello`` and reports
``status``) or any client that speaks only CLIProxyAPI's frames (no hello:
it gets a default capacity). Each request in flight is an ``Exchange``: a
queue of the frames the peer sent for that id, ended by a terminal frame or
by ``PeerGone`` when the connection closes.

The queue is bounded by bytes (``MAX_QUEUED_BYTES``), not by a blocking put:
one connection carries every request of its service, so waiting for one slow
client would stall the others (and the pings that keep the service). When a
client reads so slowly that more than that waits for it, its request fails
(the stream ends with an error event), the service is told to ``cancel``,
and the frames still coming for it are dropped (docs/aistudio.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from suite.relay_protocol import (
    Cancel,
    Error,
    Frame,
    Hello,
    HttpResponse,
    Payload,
    ProfileState,
    Status,
    StreamChunk,
    StreamEnd,
    encode,
)
from suite.tasks import spawn

__all__ = ["DEFAULT_CAPACITY", "Exchange", "MAX_QUEUED_BYTES", "Peer", "PeerGone"]

# A client that never says hello (CLIProxyAPI's browser relay app) serves requests
# concurrently; without a number from it, assume this many at once.
DEFAULT_CAPACITY = 4
#: Bytes of answer that may wait for one request's client before it is failed.
MAX_QUEUED_BYTES = 16 * 1024 * 1024
_TERMINAL = (HttpResponse, StreamEnd, Error)

Sender = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PeerGone:
    """The connection of the peer closed while this exchange was open."""

    reason: str


class Exchange:
    """One request relayed to one peer: the frames that come back for its id."""

    __slots__ = ("id", "peer", "queue", "queued", "started", "finished", "_cancelled")

    def __init__(self, exchange_id: str, peer: Peer) -> None:
        self.id = exchange_id
        self.peer = peer
        self.queue: asyncio.Queue[Frame | PeerGone] = asyncio.Queue()
        self.queued = 0  # bytes of answer waiting in the queue
        self.started = False  # stream_start (or a first chunk) arrived
        self.finished = False  # a terminal frame arrived, or the peer went away
        self._cancelled = False

    async def next(self, timeout: float) -> Frame | PeerGone:
        """The next frame; ``TimeoutError`` after ``timeout`` seconds of silence."""
        async with asyncio.timeout(timeout):
            item = await self.queue.get()
        if isinstance(item, Frame):
            self.queued -= _size(item)
        if isinstance(item, PeerGone) or isinstance(item.payload, _TERMINAL):
            self.finished = True
            self.peer.forget(self.id)
        return item

    def overflow(self) -> None:
        """Its client is too slow: drop what waits, fail the request, cancel upstream."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued = 0
        mb = MAX_QUEUED_BYTES // (1024 * 1024)
        message = f"the client read the answer too slowly (more than {mb} MB waited for it)"
        self.queue.put_nowait(Frame(self.id, Error(message, 502)))
        self.peer.forget(self.id)
        if not self._cancelled:
            self._cancelled = True
            spawn(self._send_cancel(), name="relay-cancel-slow-client")

    async def _send_cancel(self) -> None:
        try:
            await self.peer.send(self.id, Cancel())
        except (ConnectionError, RuntimeError):
            pass  # the service went away meanwhile: nothing left to stop

    async def cancel(self) -> None:
        """Tell the peer to stop (the client went away or a timeout hit); idempotent."""
        if self.finished or self._cancelled:
            self.peer.forget(self.id)
            return
        self._cancelled = True
        self.peer.forget(self.id)
        await self.peer.send(self.id, Cancel())


class Peer:
    """A connected service: identity, capacity, and its open exchanges."""

    def __init__(
        self, peer_id: str, remote: str, sender: Sender, close: Callable[[], Awaitable[object]]
    ) -> None:
        self.id = peer_id
        self.remote = remote
        self._send = sender
        self._close = close
        self.hello: Hello | None = None
        self.capacity = DEFAULT_CAPACITY
        self.reported_free: int | None = None
        self.profiles: tuple[ProfileState, ...] = ()
        self.open: dict[str, Exchange] = {}
        self.resting_until = 0.0
        self.connected_at = time.time()
        self.last_seen = time.monotonic()
        self.closed = False
        self.served = 0

    # -- identity and capacity ----------------------------------------------

    @property
    def name(self) -> str:
        if self.hello is not None:
            return f"{self.hello.service or 'service'}/{self.hello.instance or self.id[:8]}"
        return f"relay-client/{self.id[:8]}"

    def on_hello(self, hello: Hello) -> None:
        self.hello = hello
        self.capacity = max(0, hello.capacity)
        self.profiles = hello.profiles

    def on_status(self, status: Status) -> None:
        if status.capacity is not None:
            self.capacity = max(0, status.capacity)
        else:  # total = free now + what it is busy with for us
            self.capacity = max(0, status.capacity_free + len(self.open))
        self.reported_free = status.capacity_free
        if status.profiles or self.hello is not None:
            self.profiles = status.profiles

    def free(self) -> int:
        """How many more requests it can start now (negative: it will queue them)."""
        return self.capacity - len(self.open)

    def usable(self, now: float) -> bool:
        return not self.closed and self.capacity > 0 and now >= self.resting_until

    def rest(self, seconds: float) -> None:
        """Rate limited: send it nothing new for a while (others may still serve)."""
        self.resting_until = max(self.resting_until, time.monotonic() + seconds)

    # -- traffic ---------------------------------------------------------------

    def start(self, exchange_id: str) -> Exchange:
        ex = Exchange(exchange_id, self)
        self.open[exchange_id] = ex
        self.served += 1
        return ex

    def forget(self, exchange_id: str) -> None:
        self.open.pop(exchange_id, None)

    async def send(self, frame_id: str, payload: Payload) -> None:
        if self.closed:
            raise ConnectionError("relay service disconnected")
        await self._send(encode(frame_id, payload))

    def deliver(self, frame: Frame) -> bool:
        """Route a frame to its exchange; False when no exchange has that id."""
        ex = self.open.get(frame.id)
        if ex is None:
            return False
        if not ex.started and frame.type in ("stream_start", "stream_chunk"):
            ex.started = True
        size = _size(frame)
        if ex.queued and ex.queued + size > MAX_QUEUED_BYTES:
            ex.overflow()
            return True
        ex.queued += size
        ex.queue.put_nowait(frame)
        return True

    def fail_all(self, reason: str) -> int:
        """The connection closed: every open exchange ends with ``PeerGone``."""
        self.closed = True
        pending = list(self.open.values())
        self.open.clear()
        for ex in pending:
            ex.queue.put_nowait(PeerGone(reason))
        return len(pending)

    async def close(self) -> None:
        await self._close()

    def describe(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "remote": self.remote,
            "hello": self.hello is not None,
            "capacity": self.capacity,
            "in_flight": len(self.open),
            "free": self.free(),
            "resting": max(0.0, round(self.resting_until - time.monotonic(), 1)),
            "profiles": [p.to_json() for p in self.profiles],
            "connected_at": self.connected_at,
            "served": self.served,
        }


def _size(frame: Frame) -> int:
    """The bytes of answer a frame carries (its text; control frames count as none)."""
    p = frame.payload
    if isinstance(p, StreamChunk):
        return len(p.data)
    if isinstance(p, HttpResponse):
        return len(p.body)
    return 0
