"""The secrets a process knows, masked by value wherever text is scrubbed.

The shape patterns in ``suite.logging`` catch text that *looks* like a
credential (``sk-…``, ``AIza…``, a JWT, ``Bearer …``). They cannot catch a key
without a tell-tale prefix, and an upstream that answers 401 by quoting the
key it was sent would put that key into the client's error, the log and the
usage database. So every secret the process holds is registered here under a
group name (``config`` for the keys and tokens of the loaded config, one group
per stored credential for its tokens and cookies), and ``redact`` masks them
all, longest first.

The matchers are rebuilt only when the set of values changes (a load, a
reload, a login, a refresh): never per request. Short text (a log field) goes
through one compiled alternation, whose minimum-length check rejects most
fields at once; long text (an upstream error body) through one C substring
search per value, which in CPython is about eight times faster than the
alternation on 64 KB (50 values: 0.7 ms against 5.6 ms), and linear in the
length either way. Values shorter than
``MIN_SECRET_LENGTH`` characters are not registered: an 8-character floor keeps
a short placeholder (``test``, ``changeme``'s shorter cousins, a port number)
from masking ordinary words in every log line, and anything shorter is too
weak to be a real credential anyway.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from suite.config import Config

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "SECRETS",
    "SecretRegistry",
    "config_secrets",
    "record_secrets",
]

MIN_SECRET_LENGTH = 8
REDACTED = "[redacted]"
_REDACTED_BYTES = REDACTED.encode()
_LONG_TEXT = 512  # from this length on, one substring search per value beats the regex

# Fields of a stored credential that hold something to keep out of every log line.
_RECORD_FIELDS = (
    "access_token",
    "refresh_token",
    "id_token",
    "client_cookie",
    "cookie",
    "session_token",
    "api_key",
)
# Provider headers (``providers.X.headers``) whose values are credentials.
_SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "cookie", "proxy-authorization"}
)


class SecretRegistry:
    """Named groups of secret values and one matcher over all of them.

    ``set``, ``add`` and ``discard`` may be called from any thread; readers
    take the current matchers without a lock (each is swapped in whole), so
    ``redact`` on a short field costs one ``re.sub`` and nothing else.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[str, frozenset[str]] = {}
        self._values: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._ordered: tuple[str, ...] = ()
        self._ordered_bytes: tuple[bytes, ...] = ()
        self.longest = 0  # length of the longest registered value (for bounded windows)

    def set(self, group: str, values: Iterable[object]) -> None:
        """Make ``group`` hold exactly ``values`` (strings shorter than the floor dropped)."""
        with self._lock:
            self._put(group, _kept(values))

    def add(self, group: str, values: Iterable[object]) -> None:
        """Add ``values`` to ``group``, keeping what it already holds."""
        with self._lock:
            self._put(group, self._groups.get(group, frozenset()) | _kept(values))

    def _put(self, group: str, keep: frozenset[str]) -> None:
        if self._groups.get(group, frozenset()) == keep:
            return
        if keep:
            self._groups[group] = keep
        else:
            self._groups.pop(group, None)
        self._rebuild()

    def discard(self, group: str) -> None:
        self.set(group, ())

    def values(self) -> frozenset[str]:
        return self._values

    def _rebuild(self) -> None:
        values = frozenset().union(*self._groups.values())
        if values == self._values:
            return
        self._values = values
        # Longest first: where one secret is part of another, the whole longer one goes.
        ordered = tuple(sorted(values, key=lambda v: (-len(v), v)))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._ordered_bytes = tuple(v.encode() for v in ordered)
        self._ordered = ordered
        self.longest = len(ordered[0]) if ordered else 0

    def redact(self, text: str) -> str:
        """``text`` with every registered value replaced by ``[redacted]``."""
        if len(text) < _LONG_TEXT:
            pattern = self._pattern
            return text if pattern is None else pattern.sub(REDACTED, text)
        for value in self._ordered:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        """The same for raw bytes (an upstream's error body): a JSON body stays valid JSON,
        since the mask holds no quote or backslash and a value is only replaced whole."""
        for value in self._ordered_bytes:
            if value in data:
                data = data.replace(value, _REDACTED_BYTES)
        return data


def _kept(values: Iterable[object]) -> frozenset[str]:
    return frozenset(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH)


SECRETS = SecretRegistry()


def config_secrets(config: Config) -> list[str]:
    """Every secret a loaded config carries: client keys, management key, services
    token, provider API keys and credential headers, the store DSN's password."""
    out: list[str] = [*config.server.api_keys, config.management.key, config.services.token]
    for prov in config.providers.values():
        out.extend(prov.api_keys)
        out.extend(v for k, v in prov.headers.items() if k.lower() in _SECRET_HEADERS)
        for k, v in prov.headers.items():
            if k.lower() == "authorization" and " " in v:
                out.append(v.split(" ", 1)[1].strip())  # the token alone, without "Bearer"
    if config.auth.dsn:
        password = urllib.parse.urlsplit(config.auth.dsn).password
        if password:
            out.append(password)
    # Outbound proxies' passwords (server.proxy_url, providers.X.proxy_url, HTTP(S)_PROXY).
    proxies = [config.server.proxy.setting, config.env.http_proxy, config.env.https_proxy]
    proxies += [p.proxy_url for p in config.providers.values()]
    out.extend(_proxy_password(url) for url in proxies)
    return out


def _proxy_password(url: str) -> str:
    try:
        return urllib.parse.unquote(urllib.parse.urlsplit(url).password or "")
    except ValueError:
        return ""


def record_secrets(data: Mapping[str, Any]) -> list[str]:
    """The tokens and cookies of a stored credential's document, and the password of
    its own proxy (``proxy_url``)."""
    out = [v for k in _RECORD_FIELDS if isinstance(v := data.get(k), str)]
    proxy = data.get("proxy_url")
    if isinstance(proxy, str) and proxy:
        out.append(_proxy_password(proxy))
    return out
