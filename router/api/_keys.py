"""Typed application keys (``web.AppKey``) shared by the API modules."""

from __future__ import annotations

from aiohttp import web

from router.state import RouterState

__all__ = ["STATE"]

STATE: web.AppKey[RouterState] = web.AppKey("cliproxy_state", RouterState)
