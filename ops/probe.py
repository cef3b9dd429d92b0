"""One HTTP health probe, shared by ``status``, ``start`` and the healthcheck listener.

Plain ``http.client`` on purpose: it ignores ``HTTP_PROXY`` (a loopback probe
must never go through a proxy), costs no event loop, and has one timeout that
covers connect and read — a hung process fails the probe instead of hanging it.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["ProbeResult", "probe"]

_MAX_BODY = 65536


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    status: int | None
    latency_ms: float
    detail: str

    def summary(self) -> str:
        if self.ok:
            return "ok"
        return f"HTTP {self.status}" if self.status is not None else "failing"


def _detail(body: bytes) -> str:
    """A service may explain itself: ``{"status": "...", "detail": "run login"}``."""
    try:
        data = json.loads(body)
    except ValueError:
        return body[:120].decode("utf-8", "replace").strip()
    if not isinstance(data, dict):
        return ""
    for key in ("detail", "message", "error"):
        if isinstance(data.get(key), str):
            return str(data[key])
    status = data.get("status")
    return "" if status in (None, "ok") else str(status)


def probe(url: str, timeout: float) -> ProbeResult:
    """GET ``url``; healthy means a 2xx answer within ``timeout`` seconds."""
    parts = urlsplit(url)
    start = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"User-Agent": "cli-proxy-api-health"})
        resp = conn.getresponse()
        body = resp.read(_MAX_BODY)
        status = resp.status
    except TimeoutError:
        return ProbeResult(False, None, _ms(start), f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return ProbeResult(False, None, _ms(start), str(reason))
    finally:
        conn.close()
    return ProbeResult(200 <= status < 300, status, _ms(start), _detail(body))


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
