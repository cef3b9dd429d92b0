"""Turning errors into HTTP responses, in the format the client speaks."""

from __future__ import annotations

import math

from aiohttp import web

from router.errors import ProxyError, UpstreamHTTPError
from router.formats import Format, error_body
from suite.logging import clip

__all__ = ["error_response"]

_MESSAGE_LIMIT = 4096  # characters of an error message a client gets back


def error_response(fmt: Format, exc: ProxyError, request_id: str) -> web.Response:
    status = exc.status
    if isinstance(exc, UpstreamHTTPError) and status < 400:
        status = 502
    headers = {"X-Request-Id": request_id}
    if exc.retry_after is not None and status in (429, 503):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if fmt is Format.ANTHROPIC:
        headers["request-id"] = request_id
    return web.Response(
        status=status,
        # Scrubbed and bounded: a message may quote an upstream's text (which may quote the
        # key it was sent) or a client's (of any length).
        body=error_body(fmt, status, exc.kind, clip(exc.message, _MESSAGE_LIMIT), exc.param),
        content_type="application/json",
        headers=headers,
    )
