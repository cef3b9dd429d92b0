"""The one place that opens outbound HTTP: sessions, their connectors and proxies.

Every connection the suite makes to the outside (executors, token refresh,
logins, the cto.new WebSocket) comes from a session built here, so that a
proxy (``suite.proxies``) applies to all of them and nothing reads proxy
variables from the environment behind the config's back (``trust_env`` is
always off: ``server.proxy_url: env`` hands the environment's proxies in
through ``suite.config``). Ruff's banned-API rule keeps ``aiohttp.ClientSession``
out of every other module.

A proxy is a property of the connector (``aiohttp_socks``: HTTP CONNECT, also
over TLS to an ``https://`` proxy, and SOCKS5), so requests and WebSockets
alike go through it, and a session is kept per (owner, proxy): ``SessionPool``.
A proxy that is down or refuses the tunnel is a ``ProxyFailed``, an
``aiohttp.ClientConnectionError`` naming the proxy by ``scheme://host:port``
(never its password), which callers already treat as a connection error.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
import python_socks
from aiohttp.client_proto import ResponseHandler
from aiohttp_socks import ProxyConnector, ProxyType

from .proxies import Proxy

__all__ = [
    "ProxyFailed",
    "Session",
    "SessionPool",
    "failure",
    "new_connector",
    "new_session",
]

# The type other modules name in annotations (they may not name aiohttp's directly).
Session = aiohttp.ClientSession

_TYPES = {
    "http": ProxyType.HTTP,
    "https": ProxyType.HTTP,
    "socks5": ProxyType.SOCKS5,
    "socks5h": ProxyType.SOCKS5,
}


class ProxyFailed(aiohttp.ClientConnectionError):
    """The proxy could not be reached, refused the tunnel, or the tunnel broke."""

    def __init__(self, proxy: Proxy, why: str) -> None:
        super().__init__(f"proxy {proxy.label}: {why}")
        self.proxy = proxy


def failure(exc: BaseException) -> str:
    """A connection failure in a few words for an error message: a proxy's own words
    (naming it by ``scheme://host:port``), else the exception's type."""
    return str(exc) if isinstance(exc, ProxyFailed) else type(exc).__name__


def _why(exc: BaseException) -> str:
    """A short cause. python_socks words its errors without the credentials; an
    ``OSError`` gives its strerror (never a URL)."""
    if isinstance(exc, python_socks.ProxyTimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, python_socks.ProxyConnectionError):
        cause = exc.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else "refused"
        return f"cannot connect ({reason})"
    if isinstance(exc, python_socks.ProxyError):
        return f"refused the tunnel ({str(exc)[:200] or 'no reason given'})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS through the proxy failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError):
        return f"connection failed ({exc.strerror or type(exc).__name__})"
    return type(exc).__name__


class _Connector(ProxyConnector):
    """``aiohttp_socks``' connector with its errors made ``ProxyFailed``: its own
    exceptions are not ``aiohttp.ClientError``s, and a caller catching those would
    let a proxy that is down escape as a crash."""

    def __init__(self, proxy: Proxy, **kwargs: Any) -> None:
        super().__init__(
            host=proxy.host,
            port=proxy.port,
            proxy_type=_TYPES[proxy.scheme],
            username=proxy.username or None,
            password=proxy.password or None,
            rdns=proxy.scheme != "socks5",  # socks5: names resolved here; socks5h: there
            proxy_ssl=ssl.create_default_context() if proxy.scheme == "https" else None,
            **kwargs,
        )
        self.proxy = proxy

    async def _connect_via_proxy(
        self,
        host: str,
        port: int,
        ssl: ssl.SSLContext | None = None,
        timeout: float | None = None,
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        try:
            return await super()._connect_via_proxy(host, port, ssl=ssl, timeout=timeout)
        except (python_socks.ProxyError, OSError, asyncio.TimeoutError) as exc:
            raise ProxyFailed(self.proxy, _why(exc)) from None


def new_connector(proxy: Proxy | None, **kwargs: Any) -> aiohttp.TCPConnector:
    """A connector that reaches the outside directly (``proxy`` None) or through ``proxy``.
    ``kwargs`` are ``aiohttp.TCPConnector``'s (``limit``, ``keepalive_timeout``...)."""
    if proxy is None:
        return aiohttp.TCPConnector(**kwargs)
    kwargs.pop("ttl_dns_cache", None)  # names are resolved by the proxy (or python_socks)
    return _Connector(proxy, **kwargs)


def new_session(
    proxy: Proxy | None,
    *,
    connector_options: dict[str, Any] | None = None,
    **options: Any,
) -> aiohttp.ClientSession:
    """An outbound session: no cookie jar unless given (one account's cookies must
    never ride along with another's), never the environment's proxies."""
    options.setdefault("cookie_jar", aiohttp.DummyCookieJar())
    return aiohttp.ClientSession(
        connector=new_connector(proxy, **(connector_options or {})),
        trust_env=False,
        **options,
    )


class SessionPool:
    """One owner's sessions, one per proxy, each created on first use and kept:
    a session is a connection pool, so never one per request."""

    def __init__(self, factory: Callable[[Proxy | None], aiohttp.ClientSession]) -> None:
        self._factory = factory
        self._sessions: dict[Proxy | None, aiohttp.ClientSession] = {}

    def get(self, proxy: Proxy | None) -> aiohttp.ClientSession:
        session = self._sessions.get(proxy)
        if session is None or session.closed:
            session = self._sessions[proxy] = self._factory(proxy)
        return session

    def __len__(self) -> int:
        return len(self._sessions)

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
