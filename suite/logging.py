"""Structured logging: one JSON object per line on stdout, secrets scrubbed.

supervisord captures stdout into ``logs/<program>.log`` and rotates it, so the
services never open log files themselves. The scrubber is a last line of
defence: code should not log secrets in the first place, but a stray header
dict or exception text must not leak a key into a file people share.

Two rules keep the scrubber itself from becoming the weak point:

* It runs in time linear in its input, whatever the input. Every pattern
  branch is possessive (nothing it consumed is given back), and the one
  branch with a required tail (a JWT's ``.payload.signature``) consumes the
  whole run of token characters even when the tail is missing, so no run is
  scanned again from a later start. A 120 KB ``eyJeyJ…`` model name once
  held the event loop for ten seconds here.
* Text a client or an upstream controls is cut to a bound (``clip``) before
  it is written: model names, paths and user agents to 200 characters, error
  text to 500. Only a window a little longer than the bound is scrubbed, so a
  1 MB field costs what a 5 KB one does.

Besides shapes, ``redact`` masks every secret the process knows by value
(``suite.secrets``): an upstream that echoes the key it was sent cannot put
it into a log line.

Records of the standard ``logging`` module (aiohttp's server errors, asyncio's
"Task exception was never retrieved", uncaught exceptions of the main thread
and of other threads) go through the same scrubber and come out as one JSON
object per line too, the traceback in an ``exception`` field.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from types import TracebackType
from typing import Any

import orjson
import structlog

from suite.log_ring import LOG_RING
from suite.secrets import MIN_SECRET_LENGTH, REDACTED, SECRETS

__all__ = [
    "CLIENT_TEXT_LIMIT",
    "ERROR_TEXT_LIMIT",
    "AccessLog",
    "JSONFormatter",
    "access_log",
    "clip",
    "get_logger",
    "processors",
    "redact",
    "setup_logging",
]

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
# Every quantifier is possessive; see the module docstring for why this is linear.
# The lookahead (the first characters of the branches) lets most positions fail
# with one set lookup instead of five branch attempts: a log field costs about 1 µs.
_T = r"[A-Za-z0-9_\-]"
_SHAPES = re.compile(
    r"(?=[sAeBb?&])(?:"
    rf"sk-{_T}{{8,}}+"
    rf"|AIza{_T}{{20,}}+"
    rf"|(?P<jwt>eyJ{_T}{{10,}}+)(?P<tail>\.{_T}{{10,}}+\.{_T}*+)?"
    r"|[Bb](?i:earer)\s++[A-Za-z0-9._\-]{8,}+"
    r"|(?P<param>[?&](?:key|auth_token|token)=)[^&\s\"']++"
    ")"
)
# What may hide inside a run that starts with "eyJ" but is not a JWT.
_IN_RUN = re.compile(rf"sk-{_T}{{8,}}+|AIza{_T}{{20,}}+")

# Bounds of logged text that clients or upstreams control (characters).
CLIENT_TEXT_LIMIT = 200
ERROR_TEXT_LIMIT = 500
_OTHER_TEXT_LIMIT = 4096  # any other string field of a structlog event
_EXCEPTION_LIMIT = 16384  # a rendered traceback
_WINDOW = 1024  # scrubbed beyond the bound, so a secret cut by it is still masked whole
_WINDOW_MAX = 16384  # ... up to a secret this long (cookies stay far below)
_LIMITS = {
    "model": CLIENT_TEXT_LIMIT,
    "path": CLIENT_TEXT_LIMIT,
    "user_agent": CLIENT_TEXT_LIMIT,
    "error": ERROR_TEXT_LIMIT,
    "exception": _EXCEPTION_LIMIT,
}
_MAX_DEPTH = 4  # nested dicts/lists in a structlog event scrubbed this deep


def _mask(m: re.Match[str]) -> str:
    if m.group("jwt") is not None and m.group("tail") is None:
        # "eyJ…" without the two dotted parts: not a JWT. Its run was consumed whole
        # (so it is never rescanned); mask what the other shapes find inside it.
        return _IN_RUN.sub(REDACTED, m.group(0))
    return (m.group("param") or "") + REDACTED


def redact(text: str) -> str:
    """Mask known secrets (by value) and credential-shaped substrings in free text.

    Linear in ``len(text)``; callers that log text of unbounded length use
    ``clip``, which also bounds it.
    """
    if not text:
        return text
    return _SHAPES.sub(_mask, SECRETS.redact(text))


def clip(text: str, limit: int = CLIENT_TEXT_LIMIT) -> str:
    """``text`` scrubbed and cut to at most ``limit`` characters, a marker saying so.

    Only ``limit`` plus a window (at least the longest known secret) is
    scrubbed: enough that a secret starting before the cut is masked whole.
    """
    if len(text) <= limit:
        return redact(text)
    window = text[: limit + min(max(_WINDOW, SECRETS.longest), _WINDOW_MAX)]
    marker = f"…[cut, {len(text)} chars]"
    return redact(window)[: max(0, limit - len(marker))] + marker


def _scrub_value(key: str, value: Any, depth: int) -> Any:
    if isinstance(value, str):
        if len(value) < MIN_SECRET_LENGTH:
            return value
        return clip(value, _LIMITS.get(key, _OTHER_TEXT_LIMIT))
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {
            k: (
                REDACTED
                if isinstance(k, str) and k.lower() in _SECRET_KEYS and v
                else _scrub_value(str(k), v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub_value(key, v, depth + 1) for v in value]
    return value


def _scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for k, v in list(event.items()):
        if k.lower() in _SECRET_KEYS and v:
            event[k] = REDACTED
        else:
            event[k] = _scrub_value(k, v, 0)
    return event


def _keep_problem(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Warnings and errors also go to the in-memory ring the console reads (suite.log_ring)."""
    LOG_RING.problem_event(event)
    return event


def _dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=str).decode()


def processors() -> list[Callable[..., Any]]:
    """structlog's chain for every service: context, level, time, traceback, scrub, JSON."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.processors.format_exc_info,
        _scrub,
        _keep_problem,
        structlog.processors.JSONRenderer(serializer=_dumps),
    ]


class JSONFormatter(logging.Formatter):
    """A standard ``logging`` record as one scrubbed JSON line, like structlog's."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format/args pair: keep what we have
            message = f"{record.msg} {record.args}"
        event: dict[str, Any] = {
            **structlog.contextvars.get_contextvars(),
            "event": message,
            "logger": record.name,
            "level": record.levelname.lower(),
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.created % 1 * 1_000_000):06d}Z",
        }
        event.setdefault("service", self.service)
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        line = _dumps(_scrub(None, "", event))
        LOG_RING.problem(event["level"], line)
        return line


def _uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("uncaught").critical(
        "uncaught exception: %s", kind.__name__, exc_info=(kind, exc, tb)
    )


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("uncaught").critical(
        "uncaught exception in thread %s: %s",
        name,
        args.exc_type.__name__,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )


def setup_logging(service: str, level: str = "info") -> None:
    """Configure structlog and the standard ``logging`` module for one process.

    Called by entry points only, never at import.
    """
    out = sys.stdout
    lvl = getattr(logging, level.upper(), logging.INFO)
    handler = logging.StreamHandler(out)
    handler.setFormatter(JSONFormatter(service))
    logging.basicConfig(level=lvl, handlers=[handler], force=True)
    for noisy in ("aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    structlog.configure(
        processors=processors(),
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.WriteLoggerFactory(file=out),
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
    upstream-controlled text are scrubbed, and cut to their bound (``SCRUB``);
    the rest are the router's own values.
    """

    SCRUB: dict[str, int] = {
        "error": ERROR_TEXT_LIMIT,
        "model": CLIENT_TEXT_LIMIT,
        "path": CLIENT_TEXT_LIMIT,
        "user_agent": CLIENT_TEXT_LIMIT,
    }

    # Scrubbed values kept for reuse (model names and paths recur on every line); the
    # cache is dropped when the known secrets change, and never grows past this.
    _CACHED = 256

    def __init__(self, delay: float = 0.1) -> None:
        self.delay = delay
        self.service = "router"
        self.level = _LEVELS["info"]
        self._lines: list[bytes] = []
        self._scheduled = False
        self._second = -1
        self._prefix = ""
        self._clipped: dict[tuple[str, int], str] = {}
        self._secrets: frozenset[str] = frozenset()

    def configure(self, service: str, level: str) -> None:
        self.service = service
        self.level = _LEVELS.get(level, 20)

    def emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < self.level:
            return
        for key, limit in self.SCRUB.items():
            value = fields.get(key)
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                fields[key] = self._clip(value, limit)
        fields["event"] = event
        fields["service"] = self.service
        fields["level"] = level
        fields["ts"] = self._timestamp()
        line = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
        self._lines.append(line)
        LOG_RING.access.append(line)  # the console's Logs screen (suite.log_ring)
        if not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = True
            loop.call_later(self.delay, self.flush)

    def _clip(self, value: str, limit: int) -> str:
        """``clip(value, limit)``, from the cache when ``value`` was scrubbed before under
        the same secrets (short values only: a client's long text is not kept)."""
        if len(value) > limit:
            return clip(value, limit)
        secrets = SECRETS.values()
        cache = self._clipped
        if secrets is not self._secrets:
            cache.clear()
            self._secrets = secrets
        key = (value, limit)
        out = cache.get(key)
        if out is None:
            out = clip(value, limit)
            if len(cache) >= self._CACHED:
                cache.clear()
            cache[key] = out
        return out

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
