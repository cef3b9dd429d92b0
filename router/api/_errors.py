"""Turning errors into HTTP responses, in the format the client speaks."""

from __future__ import annotations

import math

from aiohttp import web

from router.errors import ProxyError, UpstreamHTTPError
from router.formats import Format, error_body

__all__ = ["error_response"]


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
        body=error_body(fmt, status, exc.kind, exc.message, exc.param),
        content_type="application/json",
        headers=headers,
    )
