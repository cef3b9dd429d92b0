"""Outbound proxy settings: what a ``proxy_url`` key says, checked once at load.

Three places may name a proxy (docs/operations.md, "Outbound proxy"): a
stored credential's ``proxy_url``, ``providers.X.proxy_url`` and
``server.proxy_url``; the first one set wins. Each holds a URL
(``http://``, ``https://``, ``socks5://``, ``socks5h://``, with an optional
``user:password@``), or ``direct`` (no proxy, whatever the others say).
``server.proxy_url`` may also be ``env``: then ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``NO_PROXY`` apply, read by ``suite.config`` (the one module
that reads the environment) and handed here as ``EnvProxies``.

This module is pure (no sockets, no aiohttp), so the config loader can use it;
``suite.outbound`` builds the connections. A proxy's password is never part of
what is shown of it: ``Proxy.label`` is ``scheme://host:port``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from ._reader import ConfigError

__all__ = [
    "DIRECT",
    "ENV",
    "SCHEMES",
    "EnvProxies",
    "InvalidProxy",
    "Proxy",
    "ProxyPolicy",
    "check_proxy_setting",
    "config_proxy_url",
    "parse_proxy",
    "proxy_label",
    "proxy_setting",
]

SCHEMES = ("http", "https", "socks5", "socks5h")
DIRECT = "direct"  # no proxy, even when a wider setting names one
ENV = "env"  # server.proxy_url only: HTTP(S)_PROXY / NO_PROXY of the environment
_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidProxy(ValueError):
    """A ``proxy_url`` that cannot be used; the message never holds its password."""


@dataclass(frozen=True, slots=True)
class Proxy:
    """One proxy server. ``url`` (with its userinfo) is for the connector only."""

    scheme: str
    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    url: str = field(default="", repr=False, compare=False)

    @property
    def label(self) -> str:
        """What logs and errors show: ``scheme://host:port``, never the userinfo."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def address(self) -> str:
        """``host:port``, for error messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return self.label


def _shown(text: str) -> str:
    """``text`` for an error message: the userinfo of a URL-ish value cut out."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "[not a URL]" if "@" in text else text[:100]
    if "@" in rest.split("/", 1)[0]:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}://{rest}"[:100]


@lru_cache(maxsize=256)
def parse_proxy(text: str) -> Proxy:
    """The proxy a URL names; InvalidProxy (naming what is wrong, not the password)."""
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidProxy(
            f"expected a proxy URL with scheme {', '.join(SCHEMES)}, got {_shown(text)!r}"
        )
    if not parts.hostname:
        raise InvalidProxy(f"no host in {_shown(text)!r}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidProxy(f"not a valid port in {_shown(text)!r}") from None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
        if port is None:
            raise InvalidProxy(f"a port is required for {scheme} in {_shown(text)!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidProxy(f"a proxy URL has no path or query: {_shown(text)!r}")
    return Proxy(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        url=text.strip(),
    )


def proxy_setting(text: str) -> Proxy | None:
    """A credential's or provider's ``proxy_url``: None for ``direct``, else the proxy.
    (Empty means "not set here" and is handled by the caller.)"""
    if text.strip().lower() == DIRECT:
        return None
    return parse_proxy(text)


def proxy_label(text: str) -> str:
    """What may be shown of a ``proxy_url``: ``direct``, ``scheme://host:port``, or
    ``invalid (...)``, never its password."""
    try:
        proxy = proxy_setting(text)
    except InvalidProxy as exc:
        return f"invalid ({exc})"
    return DIRECT if proxy is None else proxy.label


def check_proxy_setting(text: str, *, allow_env: bool = False) -> str:
    """``text`` normalised (``""``, ``direct``, ``env`` or the URL) if it is a valid
    ``proxy_url``; InvalidProxy otherwise."""
    value = text.strip()
    if not value:
        return ""
    if value.lower() == ENV:
        if not allow_env:
            raise InvalidProxy("'env' is only for server.proxy_url")
        return ENV
    if value.lower() == DIRECT:
        return DIRECT
    parse_proxy(value)
    return value


def config_proxy_url(value: str, key: str, *, allow_env: bool = False) -> str:
    """A ``proxy_url`` read from config.yaml, checked: ConfigError naming ``key``."""
    try:
        return check_proxy_setting(value, allow_env=allow_env)
    except InvalidProxy as exc:
        raise ConfigError(key, str(exc)) from None


def _no_proxy_entries(text: str) -> tuple[str, ...]:
    return tuple(e.strip().lower() for e in text.replace(";", ",").split(",") if e.strip())


@dataclass(frozen=True, slots=True)
class EnvProxies:
    """``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY`` as ``suite.config`` read them."""

    http: Proxy | None = None
    https: Proxy | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_values(cls, http: str, https: str, no_proxy: str) -> EnvProxies:
        """InvalidProxy names the variable that is wrong."""
        out: dict[str, Proxy | None] = {}
        for name, value in (("HTTP_PROXY", http), ("HTTPS_PROXY", https)):
            try:
                out[name] = parse_proxy(value) if value.strip() else None
            except InvalidProxy as exc:
                raise InvalidProxy(f"{name}: {exc}") from None
        return cls(out["HTTP_PROXY"], out["HTTPS_PROXY"], _no_proxy_entries(no_proxy))

    def for_url(self, url: str) -> Proxy | None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if self._bypassed(host, parts.port):
            return None
        secure = parts.scheme in ("https", "wss")
        return self.https if secure else self.http

    def _bypassed(self, host: str, port: int | None) -> bool:
        """curl's NO_PROXY: ``*``, a host or domain suffix (``.example.com`` or
        ``example.com``), an IP or CIDR block, optionally ``:port``."""
        for entry in self.no_proxy:
            if entry == "*":
                return True
            name, _, want_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
            if want_port and str(port or "") != want_port:
                continue
            if (
                _ip_match(host, name)
                or host == name.lstrip(".")
                or host.endswith("." + name.lstrip("."))
            ):
                return True
        return False


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (":" not in head or head.endswith("]"))


def _ip_match(host: str, entry: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) in ipaddress.ip_network(
            entry.strip("[]"), strict=False
        )
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ProxyPolicy:
    """``server.proxy_url`` for any destination: nothing, one proxy, or the environment's."""

    setting: str = field(default="", repr=False)  # "", "direct", "env" or a URL (checked)
    env: EnvProxies = field(default_factory=EnvProxies)

    def for_url(self, url: str) -> Proxy | None:
        if not self.setting or self.setting == DIRECT:
            return None
        if self.setting == ENV:
            return self.env.for_url(url)
        return parse_proxy(self.setting)

    def with_env(self, http: str, https: str, no_proxy: str) -> ProxyPolicy:
        """This policy with the environment's proxies when it is ``env``; InvalidProxy
        names a bad variable. (Only then are they read: a bad ``HTTP_PROXY`` in the
        environment does not break a config that does not use it.)"""
        if self.setting != ENV:
            return self
        return ProxyPolicy(ENV, EnvProxies.from_values(http, https, no_proxy))

    def choose(self, own: str, url: str) -> Proxy | None:
        """A more specific ``proxy_url`` (``own``) if set, else this policy for ``url``."""
        return proxy_setting(own) if own.strip() else self.for_url(url)
