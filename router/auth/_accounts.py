"""``python -m router accounts``: each stored sign-in with its plan's use, as a table.

The plan usage lives in the running router (it is read off every
subscription answer), so this asks the router's management API
(``GET /v1/auth/credentials`` on ``server.host``/``server.port`` with
``management.key``) and prints what it says:

    NAME                     STATE   PLAN  5H   RESETS IN  WEEK  RESETS IN  SEEN
    claude-me@example.com    active  -     25%  3h 10m     50%   4d 2h      12s ago
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import httpx

from suite.config import Config

__all__ = ["accounts_command", "accounts_table"]

_COLUMNS = ("NAME", "STATE", "PLAN", "5H", "RESETS IN", "WEEK", "RESETS IN", "SEEN")


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def _window(w: Any, now: float) -> tuple[str, str]:
    if not isinstance(w, dict) or not isinstance(w.get("used_percent"), int | float):
        return "-", "-"
    resets = w.get("resets_at")
    when = _span(resets - now) if isinstance(resets, int | float) else "-"
    return f"{w['used_percent']:.0f}%", when


def accounts_table(credentials: list[dict[str, Any]], now: float | None = None) -> str:
    """The management list as a plain-text table (one line per credential)."""
    now = time.time() if now is None else now
    rows = [_COLUMNS]
    for c in credentials:
        quota = c.get("quota")
        q: dict[str, Any] = quota if isinstance(quota, dict) else {}
        five, five_at = _window(q.get("five_hour"), now)
        week, week_at = _window(q.get("weekly"), now)
        seen = q.get("seen_at")
        ago = f"{_span(now - seen)} ago" if isinstance(seen, int | float) else "never"
        plan = str(q.get("plan") or "-")
        rows.append(
            (str(c.get("name")), str(c.get("state")), plan, five, five_at, week, week_at, ago)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def accounts_command(config: Config, *, out: TextIO | None = None, timeout: float = 10.0) -> int:
    out = out or sys.stdout
    host = config.server.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    url = f"http://{host}:{config.server.port}/v1/auth/credentials"
    if not config.management.key:
        print("accounts: set management.key (the table comes from the running router)", file=out)
        return 2
    try:
        resp = httpx.get(url, headers={"X-Management-Key": config.management.key}, timeout=timeout)
    except httpx.HTTPError as exc:
        print(f"accounts: the router at {url} did not answer ({type(exc).__name__})", file=out)
        return 1
    if resp.status_code != 200:
        print(f"accounts: the router answered {resp.status_code}: {resp.text[:200]}", file=out)
        return 1
    creds = resp.json().get("credentials") or []
    print(accounts_table(creds) if creds else "no stored sign-ins", file=out)
    return 0
