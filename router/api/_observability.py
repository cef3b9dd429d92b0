"""``GET /metrics``, ``GET /v1/usage``, ``GET /status`` (a page) and ``GET /status.json``.

``/metrics`` answers loopback callers as they are and others only with the
management key (and ``management.allow_remote``). ``/v1/usage`` and
``/status.json`` always need the management key. The page itself carries
no data: it shows a sign-in until the key is given, then reads
``/status.json`` with it. Its files are read once, when the app is built.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from router.errors import BadRequest, Forbidden, NotFound
from router.observability import (
    DIMENSIONS,
    METRICS,
    OBSERVER,
    StatusSource,
    UsageQuery,
    UsageStoreError,
)

from ._keys import STATE
from ._management import Unavailable, require_management
from ._middleware import is_loopback

__all__ = ["STATUS", "page_files", "parse_usage_query", "setup", "status_page_guard"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATUS: web.AppKey[StatusSource] = web.AppKey("cliproxy_status", StatusSource)
_DEFAULT_DAYS = 7
_ASSETS = {
    "status.html": "text/html",
    "status.css": "text/css",
    "status.js": "text/javascript",
}
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


def status_page_guard(request: web.Request) -> None:
    """The page and its files: loopback callers, or anyone with ``management.allow_remote``."""
    if not request.app[STATE].current.config.management.allow_remote and not is_loopback(
        request.remote
    ):
        raise Forbidden("the status page answers local callers only (management.allow_remote)")


async def metrics(request: web.Request) -> web.StreamResponse:
    if not is_loopback(request.remote):
        require_management(request)
    obs = request.app[OBSERVER]
    if obs.metrics is None:
        raise NotFound("metrics are off (metrics.enabled: false)")
    body = await obs.render_metrics()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# -- /v1/usage ------------------------------------------------------------------


#: The instants a usage query may name: 1970-01-01 up to the end of 9998 (a day
#: later still has a calendar date, and every timestamp converts back to one).
_EARLIEST = 0.0
_LATEST = datetime(9999, 1, 1, tzinfo=UTC).timestamp()


def _instant(text: str, name: str, *, end: bool) -> float:
    """Unix seconds, or ISO 8601 (a bare date as ``to`` means the end of that day, UTC).

    ``nan``, ``inf`` and dates outside 1970..9998 are refused: they would pass the
    ``from < to`` check (nan compares false) or overflow the calendar later."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = _iso_instant(text, name, end=end)
    if not _EARLIEST <= seconds <= _LATEST:  # false for nan too
        raise BadRequest(
            f"{name}: {text[:40]!r} is outside 1970-01-01..9998-12-31 "
            "(Unix seconds or an ISO 8601 date/time)",
            param=name,
        )
    return seconds


def _iso_instant(text: str, name: str, *, end: bool) -> float:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if end:
                moment += timedelta(days=1)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except OverflowError:  # 9999-12-31 as ``to``: its end is past the calendar
        return math.inf
    except ValueError:
        raise BadRequest(
            f"{name}: expected Unix seconds or an ISO 8601 date/time, got {text[:40]!r}",
            param=name,
        ) from None


def parse_usage_query(q: Mapping[str, str]) -> tuple[UsageQuery, str]:
    """``from``, ``to``, ``group_by`` (comma-separated) and ``format`` of a usage request."""
    now = time.time()
    until = _instant(q["to"], "to", end=True) if q.get("to") else now
    since = (
        _instant(q["from"], "from", end=False) if q.get("from") else until - _DEFAULT_DAYS * 86400
    )
    if since >= until:
        raise BadRequest("'from' must be before 'to'", param="from")
    raw = q.get("group_by", "day")
    dims = tuple(d.strip() for d in raw.split(",") if d.strip() and d.strip() != "none")
    for d in dims:
        if d not in DIMENSIONS:
            raise BadRequest(
                f"group_by: {d!r} is not one of {', '.join(DIMENSIONS)} (comma-separated)",
                param="group_by",
            )
    if len(set(dims)) != len(dims):
        raise BadRequest("group_by names a dimension twice", param="group_by")
    fmt = q.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest("format: 'json' or 'csv'", param="format")
    return UsageQuery(since, until, dims), fmt


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def usage(request: web.Request) -> web.StreamResponse:
    require_management(request)
    query, fmt = parse_usage_query(dict(request.query))
    recorder = request.app[OBSERVER].usage
    if recorder is None:
        raise NotFound("usage recording is off (usage.enabled: false)")
    try:
        rows = await recorder.totals(query)
        (total,) = await recorder.totals(UsageQuery(query.since, query.until))
    except UsageStoreError as exc:
        raise Unavailable(f"usage store unavailable: {exc}") from None
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        columns = [*query.group_by, *METRICS]
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            headers={"Content-Disposition": 'inline; filename="usage.csv"'},
        )
    body = {
        "from": _iso(query.since),
        "to": _iso(query.until),
        "group_by": list(query.group_by),
        "rows": rows,
        "total": total,
        "store": recorder.store.describe(),
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


# -- /status --------------------------------------------------------------------


def _asset_handler(data: bytes, content_type: str) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        status_page_guard(request)
        return web.Response(body=data, content_type=content_type, headers=_PAGE_HEADERS)

    return serve


def page_files(package: str, assets: Mapping[str, str]) -> dict[str, Handler]:
    """A page's files (``static/`` in ``package``; name -> content type), read once, now:
    a handler each, behind ``status_page_guard`` (the status page and the console)."""
    folder = resources.files(package) / "static"
    return {
        name: _asset_handler((folder / name).read_bytes(), kind) for name, kind in assets.items()
    }


async def status_json(request: web.Request) -> web.StreamResponse:
    require_management(request)
    doc = await request.app[STATUS].document()
    return web.Response(
        body=orjson.dumps(doc, default=str),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def setup(app: web.Application) -> None:
    """Register the routes; read the page's files once (not per request)."""
    run_dir = app[STATE].current.config.env.run_dir  # set by supervisord for the router
    app[STATUS] = StatusSource(app[OBSERVER], Path(run_dir) if run_dir else None)
    pages = page_files("router.observability", _ASSETS)
    r = app.router
    r.add_get("/metrics", metrics)
    r.add_get("/v1/usage", usage)
    r.add_get("/status", pages["status.html"])
    for name in ("status.css", "status.js"):
        r.add_get(f"/status/{name}", pages[name])
    r.add_get("/status.json", status_json)
