"""Local outbound proxies that record what passed through them.

    async with HTTPProxy() as proxy:                      # or HTTPProxy(auth=("u", "pw"))
        ...  # point server.proxy_url (or a provider's / a credential's) at proxy.url
        proxy.passages      # [Passage(kind="connect", target="127.0.0.1:PORT", user="")]

    async with Socks5Proxy(auth=("user", "secret")) as proxy: ...   # proxy.url: socks5://...

* ``HTTPProxy`` answers ``CONNECT host:port`` with a tunnel (RFC 9110 9.3.6) and
  forwards an absolute-form request (``GET http://host:port/path``) to its
  origin, the two things an HTTP proxy does; ``Proxy-Authorization: Basic`` is
  checked when ``auth`` is set (407 with ``Proxy-Authenticate`` otherwise).
* ``Socks5Proxy`` speaks RFC 1928 (CONNECT, IPv4 / domain / IPv6 targets)
  with no authentication or RFC 1929 username/password (then required).
* ``HTTPProxy(tls=context)`` is an HTTPS proxy (TLS to the proxy, then the same).
* ``refuse=True``: the HTTP proxy answers 403 to everything, the SOCKS5 one
  replies "connection not allowed by ruleset" (0x02); a proxy that is down is
  simply ``closed_port()``.

Each passage is recorded before the tunnel opens, so a client that got its
answer can read the record at once. ``requests`` lists the HTTP request lines
seen going through (``"127.0.0.1:PORT POST /oauth/token"``): the upstreams of the
tests speak plain HTTP, so even a request on a kept-alive tunnel is seen. Targets must be loopback: nothing leaves
the machine (a non-loopback target is refused and recorded as refused).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import re
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

__all__ = ["HTTPProxy", "Passage", "Socks5Proxy", "closed_port"]

_HEAD_LIMIT = 64 * 1024
_READ_SIZE = 64 * 1024
_IDLE_SECONDS = 60.0
_HANDSHAKE_SECONDS = 10.0
_REQUEST_LINE = re.compile(rb"(?:^|\r\n)([A-Z]{3,7}) (/\S*) HTTP/1\.[01]\r\n")


@dataclass(frozen=True, slots=True)
class Passage:
    """One connection through the proxy: ``kind`` is connect, forward or socks5;
    ``target`` the ``host:port`` asked for; ``user`` who authenticated; ``ok`` whether
    it was let through."""

    kind: str
    target: str
    user: str = ""
    ok: bool = True


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): a proxy that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _ProxyServer:
    scheme = "http"

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        refuse: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.auth = auth
        self.refuse = refuse
        self.tls = tls  # an HTTPS proxy: TLS to the proxy itself (its URL names localhost)
        self.passages: list[Passage] = []
        self.requests: list[str] = []  # "host:port METHOD /path" seen going through
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """The proxy URL, with the credentials when ``auth`` is set."""
        userinfo = f"{self.auth[0]}:{self.auth[1]}@" if self.auth else ""
        if self.tls is not None:
            return f"https://{userinfo}localhost:{self.port}"
        return f"{self.scheme}://{userinfo}127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def targets(self, ok: bool = True) -> list[str]:
        return [p.target for p in self.passages if p.ok == ok]

    def seen(self, target: str, method: str, path: str) -> int:
        """How many ``method path`` requests to ``target`` went through."""
        return sum(r == f"{target} {method} {path}" for r in self.requests)

    def _watch(self, target: str) -> Callable[[bytes], None]:
        def observe(data: bytes) -> None:
            for m in _REQUEST_LINE.finditer(data):
                path = m.group(2).decode("latin-1").split("?", 1)[0]
                self.requests.append(f"{target} {m.group(1).decode()} {path}")

        return observe

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._writers):
            w.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            upstream = await self._handle(reader, writer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass  # (ssl.SSLError is an OSError)
        except asyncio.CancelledError:
            pass  # the loop is shutting down
        finally:
            self._writers.discard(writer)
            for w in (upstream, writer):
                if w is not None:
                    self._writers.discard(w)
                    w.close()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> asyncio.StreamWriter | None:
        raise NotImplementedError

    async def _tunnel(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        port: int,
        first: bytes = b"",
    ) -> asyncio.StreamWriter:
        up_reader, upstream = await asyncio.open_connection(host, port)
        self._writers.add(upstream)
        observe = self._watch(f"{host}:{port}")
        if first:
            observe(first)
            upstream.write(first)
        await asyncio.gather(_pipe(reader, upstream, observe), _pipe(up_reader, writer))
        return upstream


class HTTPProxy(_ProxyServer):
    """``CONNECT`` tunnels and absolute-form forwarding on 127.0.0.1."""

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> asyncio.StreamWriter | None:
        async with asyncio.timeout(_HANDSHAKE_SECONDS):
            head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _HEAD_LIMIT:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        user = self._user(headers)
        if method == "CONNECT":
            host, _, port_text = target.rpartition(":")
            kind, port = "connect", int(port_text)
        else:
            if not target.startswith("http://"):
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return None
            authority, _, path = target[len("http://") :].partition("/")
            host, _, port_text = authority.rpartition(":")
            if not host:
                host, port_text = authority, "80"
            kind, port, target = "forward", int(port_text), f"{host}:{port_text}"
        host = host.strip("[]")
        if user is None:
            self.passages.append(Passage(kind, target, "", ok=False))
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="fake"\r\nContent-Length: 0\r\n\r\n'
            )
            await writer.drain()
            return None
        if self.refuse or not _loopback(host):
            self.passages.append(Passage(kind, target, user, ok=False))
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return None
        self.passages.append(Passage(kind, target, user))
        if kind == "connect":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            return await self._tunnel(reader, writer, host, port)
        # Forwarding: origin-form request line, no proxy headers, one request per connection.
        kept = [
            h
            for h in headers
            if not h.lower().startswith(
                ("proxy-authorization:", "proxy-connection:", "connection:")
            )
        ]
        request = "\r\n".join([f"{method} /{path} {version}", *kept, "Connection: close", "", ""])
        return await self._tunnel(reader, writer, host, port, request.encode("latin-1"))

    def _user(self, headers: list[str]) -> str | None:
        """Who authenticated: "" without ``auth``; None when the credentials are wrong."""
        if self.auth is None:
            return ""
        for h in headers:
            name, _, value = h.partition(":")
            if name.strip().lower() != "proxy-authorization":
                continue
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                user, _, password = base64.b64decode(token).decode().partition(":")
            except ValueError:
                return None
            return user if (user, password) == self.auth else None
        return None


class Socks5Proxy(_ProxyServer):
    """RFC 1928 CONNECT, no authentication or RFC 1929 username/password."""

    scheme = "socks5"

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> asyncio.StreamWriter | None:
        async with asyncio.timeout(_HANDSHAKE_SECONDS):
            version, count = await reader.readexactly(2)
            if version != 5:
                return None
            methods = await reader.readexactly(count)
            wanted = 2 if self.auth else 0
            if wanted not in methods:
                writer.write(b"\x05\xff")
                await writer.drain()
                return None
            writer.write(bytes([5, wanted]))
            user = ""
            if self.auth:
                _, ulen = await reader.readexactly(2)
                name = (await reader.readexactly(ulen)).decode("utf-8", "replace")
                (plen,) = await reader.readexactly(1)
                password = (await reader.readexactly(plen)).decode("utf-8", "replace")
                if (name, password) != self.auth:
                    writer.write(b"\x01\x01")
                    await writer.drain()
                    self.passages.append(Passage("socks5", "", name, ok=False))
                    return None
                writer.write(b"\x01\x00")
                user = name
            _, command, _, atyp = await reader.readexactly(4)
            if atyp == 1:
                host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
            elif atyp == 4:
                host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
            elif atyp == 3:
                (length,) = await reader.readexactly(1)
                host = (await reader.readexactly(length)).decode("idna")
            else:
                writer.write(b"\x05\x08\x00\x01" + bytes(6))  # address type not supported
                return None
            (port,) = struct.unpack("!H", await reader.readexactly(2))
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))  # command not supported
            return None
        if self.refuse or not _loopback(host):
            self.passages.append(Passage("socks5", shown, user, ok=False))
            writer.write(b"\x05\x02\x00\x01" + bytes(6))  # not allowed by ruleset
            await writer.drain()
            return None
        self.passages.append(Passage("socks5", shown, user))
        try:
            up_reader, upstream = await asyncio.open_connection(host, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            await writer.drain()
            return None
        self._writers.add(upstream)
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        await writer.drain()
        observe = self._watch(shown)
        await asyncio.gather(_pipe(reader, upstream, observe), _pipe(up_reader, writer))
        return upstream


async def _pipe(
    src: asyncio.StreamReader,
    dst: asyncio.StreamWriter,
    observe: Callable[[bytes], None] | None = None,
) -> None:
    """Copy until EOF or ``_IDLE_SECONDS`` of silence, then half-close ``dst``."""
    try:
        while True:
            async with asyncio.timeout(_IDLE_SECONDS):
                data = await src.read(_READ_SIZE)
            if not data:
                break
            if observe is not None:
                observe(data)
            dst.write(data)
            await dst.drain()
    except (OSError, TimeoutError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if dst.can_write_eof():
                dst.write_eof()
            else:
                dst.close()
