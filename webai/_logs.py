"""gemini-webapi's log lines, brought into ours and scrubbed.

The library logs through loguru, whose default handler prints everything,
debug included, to stderr (which supervisord writes to ``logs/webai.log``);
some of those lines name cookie cache files, whose names hold the
``__Secure-1PSID`` value. The entry point drops that handler
(:func:`silence_library_logs`); while the app runs, :func:`forward_library_logs`
sends the library's INFO-and-above lines to structlog with every cookie value
masked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from suite.logging import get_logger

from ._cookies import Secrets

__all__ = ["forward_library_logs", "silence_library_logs"]

log = get_logger("webai.library")
_LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40}


def silence_library_logs() -> None:
    """Remove loguru's default stderr handler (process-wide: entry points only)."""
    try:
        from loguru import logger
    except ImportError:
        return
    logger.remove()


def forward_library_logs(secrets: Secrets, level: str = "INFO") -> Callable[[], None]:
    """Forward gemini-webapi's lines at ``level`` and above; returns the undo function."""
    try:
        from loguru import logger
    except ImportError:
        return lambda: None

    def sink(message: Any) -> None:
        record = message.record
        text = secrets.scrub(str(record["message"]))
        name = record["level"].name
        if record["level"].no >= _LEVELS["WARNING"]:
            log.warning(text, library="gemini_webapi", level_name=name)
        else:
            log.info(text, library="gemini_webapi", level_name=name)

    handler = logger.add(
        sink,
        level=level,
        filter=lambda r: r["extra"].get("name") == "gemini_webapi",
        format="{message}",
        backtrace=False,
        diagnose=False,
    )

    def remove() -> None:
        logger.remove(handler)

    return remove
