"""Structured logging: one JSON object per line on stdout, secrets scrubbed.

supervisord captures stdout into ``logs/<program>.log`` and rotates it, so the
services never open log files themselves. The scrubber is a last line of
defence: code should not log secrets in the first place, but a stray header
dict or exception text must not leak a key into a file people share.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

__all__ = ["AccessLog", "access_log", "get_logger", "redact", "setup_logging"]

_SECRET_KEYS = frozenset(
    {
        "authorization",
        "x-api-key",
        "x-goog-api-key",
        "api_key",
        "api_keys",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "cookie",
        "set-cookie",
        "password",
        "secret",
        "management_key",
        "__client",
        "jwt",
    }
)
# Shapes of credentials that may hide inside free text (exception messages, URLs).
_SECRET_TEXT = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,}|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}|([?&](?:key|auth_token|token)=)[^&\s\"']+)"
)


def redact(text: str) -> str:
    """Mask credential-shaped substrings in free text."""
    if not text:
        return text
    return _SECRET_TEXT.sub(lambda m: (m.group(2) or "") + "[redacted]", text)


def _scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for k, v in list(event.items()):
        if k.lower() in _SECRET_KEYS and v:
            event[k] = "[redacted]"
        elif isinstance(v, str) and len(v) > 12:
            event[k] = redact(v)
    return event


def _dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=str).decode()


def setup_logging(service: str, level: str = "info") -> None:
    """Configure structlog for one process. Called by entry points only, never at import."""
    lvl = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stdout, level=lvl, format="%(message)s", force=True)
    for noisy in ("aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            _scrub,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    access_log.configure(service, level)
    atexit.register(access_log.flush)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class AccessLog:
    """The hot-path logger: one JSON line per request, written in batches.

    structlog's pipeline (processors, a scrub regex over every field, a write
    and flush per line) cost about 15 µs a request; this builds the line with
    one ``orjson.dumps`` and writes what piled up every ``delay`` seconds (one
    syscall for many requests). Only fields that carry client- or
    upstream-controlled text are scrubbed; the rest are the router's own values.
    """

    SCRUB = ("error", "model")

    def __init__(self, delay: float = 0.1) -> None:
        self.delay = delay
        self.service = "router"
        self.level = _LEVELS["info"]
        self._lines: list[bytes] = []
        self._scheduled = False
        self._second = -1
        self._prefix = ""

    def configure(self, service: str, level: str) -> None:
        self.service = service
        self.level = _LEVELS.get(level, 20)

    def emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < self.level:
            return
        for key in self.SCRUB:
            value = fields.get(key)
            if isinstance(value, str) and len(value) > 12:
                fields[key] = redact(value)
        fields["event"] = event
        fields["service"] = self.service
        fields["level"] = level
        fields["ts"] = self._timestamp()
        self._lines.append(orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE))
        if not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = True
            loop.call_later(self.delay, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._lines:
            return
        data, self._lines = b"".join(self._lines), []
        out = sys.stdout
        buffer = getattr(out, "buffer", None)
        try:
            if buffer is not None:
                out.flush()  # keep order with lines already written through the text layer
                buffer.write(data)
                buffer.flush()
            else:
                out.write(data.decode())
                out.flush()
        except (OSError, ValueError):
            pass  # stdout closed at exit: nothing useful left to do

    def _timestamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"


access_log = AccessLog()
