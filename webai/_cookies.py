"""The Gemini web session's cookies: where they come from and where rotated ones go.

Source of truth is ``<auth.dir>/webai-<account>.json`` (mode 0600, written
atomically: temp file + fsync + rename + fsync of the directory), because it
holds the newest rotated ``__Secure-1PSIDTS``. Cookies in config.yaml seed it:
they are used (and written to the file) when there is no file yet, or when
they changed since they last seeded it. The file remembers a fingerprint of
the config cookies it was seeded from (``config_seed``), so a config that
still holds the original cookie never overrides a rotated one, and a file
edited by hand is not overwritten by a config nobody touched.

The file is ours; besides our own shape it accepts what people paste: a flat
``{"__Secure-1PSID": ..., "__Secure-1PSIDTS": ...}`` or a browser export
(``[{"name": ..., "value": ...}, ...]``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from suite.files import write_private
from suite.logging import get_logger, redact

from ._settings import PSID, PSIDTS

__all__ = ["CookieStore", "Secrets", "SessionCookies"]

log = get_logger("webai.cookies")

# Shapes of Google session cookies in free text (library messages, cache file names).
_COOKIE_TEXT = re.compile(
    r"(g\.a000[A-Za-z0-9_\-]{8,}|sidts-[A-Za-z0-9_\-]{8,}|\.cached_cookies_[^\s'\"/]+"
    r"|__Secure-[0-9A-Z]+=[^;\s'\"]+)"
)


@dataclass(frozen=True, slots=True)
class SessionCookies:
    psid: str = field(repr=False)
    psidts: str = field(default="", repr=False)


class Secrets:
    """Masks the cookie values in use (and anything shaped like them) in free text."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, *values: str) -> None:
        self._values.update(v for v in values if len(v) >= 6)

    def scrub(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, "[redacted]")
        return redact(_COOKIE_TEXT.sub("[redacted]", text))


class CookieStore:
    """Loads the session cookies and saves rotated ones for one account."""

    def __init__(self, path: Path, configured: SessionCookies | None, secrets: Secrets) -> None:
        self.path = path
        self.configured = configured if configured and configured.psid else None
        self.secrets = secrets
        self._saved: SessionCookies | None = None
        self._seed = ""
        if self.configured is not None:
            secrets.add(self.configured.psid, self.configured.psidts)
            raw = f"{self.configured.psid}\n{self.configured.psidts}".encode()
            self._seed = hashlib.sha256(raw).hexdigest()[:16]

    def load(self) -> SessionCookies | None:
        """The cookies to sign in with, or None when there are none anywhere."""
        from_file, seed = self._read()
        cfg = self.configured
        if cfg is not None and (from_file is None or (seed and seed != self._seed)):
            self._saved = None
            self.save(cfg)
            return cfg
        if cfg is not None and from_file is not None and from_file.psid != cfg.psid:
            log.warning(
                "the cookie file names another account than config.yaml; using the file "
                "(delete it to use the config's cookies)",
                path=str(self.path),
            )
        self._saved = from_file
        return from_file

    def save(self, cookies: SessionCookies) -> bool:
        """Write ``cookies`` unless they are what the file already holds. True if written."""
        if cookies == self._saved:
            return False
        self.secrets.add(cookies.psid, cookies.psidts)
        doc: dict[str, Any] = {
            "kind": "webai",
            "cookies": {PSID: cookies.psid, PSIDTS: cookies.psidts},
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if self._seed:
            doc["config_seed"] = self._seed  # which config cookies this file started from
        write_private(
            self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n", durable=True
        )
        self._saved = cookies
        return True

    def _read(self) -> tuple[SessionCookies | None, str]:
        """The file's cookies and the config fingerprint it was seeded from ("" if none)."""
        try:
            st = self.path.stat()
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None, ""
        except OSError as exc:
            log.warning("cookie file unreadable", path=str(self.path), error=exc.strerror)
            return None, ""
        if stat.S_IMODE(st.st_mode) & 0o077:
            log.warning("cookie file was readable by others; now 0600", path=str(self.path))
            with contextlib.suppress(OSError):
                self.path.chmod(0o600)
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("cookie file is not JSON; ignored", path=str(self.path))
            return None, ""
        cookies = _parse(doc)
        if cookies is None:
            log.warning(f"cookie file has no {PSID}; ignored", path=str(self.path))
            return None, ""
        self.secrets.add(cookies.psid, cookies.psidts)
        seed = doc.get("config_seed") if isinstance(doc, dict) else None
        return cookies, seed if isinstance(seed, str) else ""


def _parse(doc: Any) -> SessionCookies | None:
    values: dict[str, str] = {}
    if isinstance(doc, dict):
        inner = doc.get("cookies", doc)
        if isinstance(inner, dict):
            values = {k: v for k, v in inner.items() if isinstance(v, str)}
        elif isinstance(inner, list):
            doc = inner
    if isinstance(doc, list):
        for item in doc:
            if isinstance(item, dict) and isinstance(item.get("value"), str):
                values[str(item.get("name"))] = item["value"]
    psid = values.get(PSID, "").strip()
    return SessionCookies(psid, values.get(PSIDTS, "").strip()) if psid else None
