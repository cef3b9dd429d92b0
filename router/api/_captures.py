"""``GET /v1/requests/{id}``: a request's capture (``logging.capture``), for debugging.

Management key required, like every management endpoint (and, unless
``management.allow_remote``, a loopback caller). The capture is the JSON the
writer stored: client and upstream bodies with secrets removed.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from router.errors import NotFound
from router.observability import OBSERVER

from ._management import require_management

__all__ = ["show_capture"]


async def show_capture(request: web.Request) -> web.StreamResponse:
    require_management(request)
    store = request.app[OBSERVER].capture
    rid = request.match_info["request_id"]
    if store is None:
        raise NotFound("request capture is off (logging.capture.enabled: false)")
    data = await asyncio.to_thread(store.load, rid)
    if data is None:
        raise NotFound(
            f"no capture for request id {rid[:64]!r}: not captured, or already left the ring"
            " (logging.capture.max_mb)"
        )
    return web.Response(
        body=data, content_type="application/json", headers={"Cache-Control": "no-store"}
    )
