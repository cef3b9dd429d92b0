"""Several workers: every worker's view of the credentials, for any worker's status page.

Each router worker keeps its own cooldowns (a 429 rests a credential in the
worker that saw it), and a status page comes from whichever worker took the
connection. So that the page shows them all, each worker writes its views
every second to ``credentials-<pid>.json`` in the shared run directory (the
one the metrics of several workers already share); the page merges its own
views with its peers', keeping for each credential the most restrictive
state. Files not refreshed for ``STALE_SECONDS`` belong to workers that are
gone and are ignored. Only states, accounts and expiry are written, never a
token.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from suite.files import write_private

from ._credentials import CredentialView

__all__ = ["STALE_SECONDS", "merge_views", "peer_views", "publish_views", "withdraw_views"]

STALE_SECONDS = 10.0
_PREFIX = "credentials-"
# How much a state keeps a credential from serving: the merge shows the worst one.
_SEVERITY = {
    "ready": 0,
    "refreshing": 1,
    "cooling": 2,
    "broken": 3,
    "disabled": 4,
    "login_required": 5,
}


def _own(directory: Path) -> Path:
    return directory / f"{_PREFIX}{os.getpid()}.json"


def publish_views(directory: Path, views: Sequence[CredentialView], now: float) -> None:
    """Write this worker's views (waits as wall-clock times), atomically."""
    doc = {"at": now, "views": [{**v.to_json(), "until": now + v.wait_s} for v in views]}
    write_private(_own(directory), orjson.dumps(doc))


def withdraw_views(directory: Path) -> None:
    """A worker that stops takes its file away (a killed one's goes stale)."""
    _own(directory).unlink(missing_ok=True)


def peer_views(directory: Path, now: float) -> list[CredentialView]:
    """The views the other live workers published; unreadable or stale files are skipped."""
    own = _own(directory).name
    out: list[CredentialView] = []
    for path in directory.glob(f"{_PREFIX}*.json"):
        if path.name == own:
            continue
        try:
            doc = orjson.loads(path.read_bytes())
            if now - float(doc["at"]) > STALE_SECONDS:
                continue
            out.extend(_view(item, now) for item in doc["views"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # being replaced, or not ours: the next look gets it
    return out


def _view(item: dict[str, Any], now: float) -> CredentialView:
    return CredentialView(
        provider=str(item["provider"]),
        id=str(item["id"]),
        state=str(item["state"]),
        wait_s=round(max(0.0, float(item["until"]) - now), 1),
        reason=item.get("reason"),
        account=item.get("account"),
        expires_at=item.get("expires_at"),
        refresh_error=item.get("refresh_error"),
        quota=item.get("quota") if isinstance(item.get("quota"), dict) else None,
        headroom=_fraction(item.get("headroom")),
    )


def _fraction(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and 0 <= value <= 1 else None


def _rank(view: CredentialView) -> tuple[int, float]:
    return (_SEVERITY.get(view.state, 0), view.wait_s)


def merge_views(
    own: Sequence[CredentialView], peers: Iterable[CredentialView]
) -> list[CredentialView]:
    """``own``'s credentials, each in the most restrictive state any worker reports."""
    worst: dict[str, CredentialView] = {}
    quotas: dict[str, dict[str, Any]] = {}  # the latest plan usage any worker saw
    for view in peers:
        seen = worst.get(view.id)
        if seen is None or _rank(view) > _rank(seen):
            worst[view.id] = view
        if _seen_at(view.quota) > _seen_at(quotas.get(view.id)):
            quotas[view.id] = view.quota  # type: ignore[assignment]
    out = []
    for view in own:
        peer = worst.get(view.id)
        chosen = peer if peer is not None and _rank(peer) > _rank(view) else view
        latest = quotas.get(view.id)
        if latest is not None and _seen_at(latest) > _seen_at(chosen.quota):
            chosen = replace(chosen, quota=latest)
        out.append(chosen)
    return out


def _seen_at(quota: dict[str, Any] | None) -> float:
    seen = quota.get("seen_at") if quota else None
    return float(seen) if isinstance(seen, int | float) else 0.0
