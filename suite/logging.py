"""Structured logging: one JSON object per line on stdout, secrets scrubbed.

supervisord captures stdout into ``logs/<program>.log`` and rotates it, so the
services never open log files themselves. The scrubber is a last line of
defence: code should not log secrets in the first place, but a stray header
dict or exception text must not leak a key into a file people share.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

__all__ = ["get_logger", "redact", "setup_logging"]

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


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()
