"""Every credential of the router and its state, for ``/metrics`` and ``/status``.

States: ``ready``; ``cooling`` (rate limited, resting); ``broken`` (its
circuit breaker is open or probing after failures in a row: ``reason`` says
which); ``refreshing`` (a stored sign-in renewing its token now);
``disabled`` (refused by the upstream for a while, or switched off by an
operator); ``login_required`` (the provider refused the refresh token or
cookie: only a new login helps). ``models`` lists the models resting on
their own (a limit that named the model) with the seconds left. ``headroom``
is the fraction (0..1) left of the tightest limit the standard rate-limit
headers last reported (``x-ratelimit-remaining-*``,
``anthropic-ratelimit-*-remaining`` against their ``-limit``): what
``quota-aware`` weighs besides the plan windows of ``quota``; None until an
answer carried them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from router.auth import KIND_TYPES, AuthRecord, Credential, LiveAuth
from router.state import RouterState

__all__ = ["CredentialView", "credential_views"]


@dataclass(frozen=True, slots=True)
class CredentialView:
    provider: str
    id: str
    state: str
    wait_s: float = 0.0  # until usable again (cooling or disabled); 0 when ready
    reason: str | None = None
    account: str | None = None
    expires_at: str | None = None  # stored sign-ins (RFC 3339)
    refresh_error: str | None = None
    quota: dict[str, Any] | None = None  # subscriptions: router.auth.Quota.to_json()
    breaker: str = "closed"  # closed, open, half_open (router.scheduling)
    models: dict[str, float] | None = None  # model -> seconds its own rest lasts
    headroom: float | None = None  # 0..1 left of the tightest standard limit, if reported

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def credential_views(state: RouterState, now: float | None = None) -> list[CredentialView]:
    """Routed credentials of every enabled provider, then stored sign-ins out of rotation."""
    mono = time.time() if now is None else now  # credential times are epoch seconds
    snap = state.current
    out: list[CredentialView] = []
    for name, prov in snap.config.providers.items():
        if not prov.enabled:
            continue
        for cred in snap.table.credentials(name):
            out.append(_view(cred, mono))
    seen = {v.id for v in out}
    stored = _stored(state)
    for name, prov in snap.config.providers.items():
        type_ = KIND_TYPES.get(prov.kind)
        if not prov.enabled or type_ is None:
            continue
        for rec in stored:
            cid = f"{name}/{rec.name}"
            if rec.type != type_ or rec.state == "active" or cid in seen:
                continue
            out.append(
                CredentialView(
                    provider=name,
                    id=cid,
                    state="login_required" if rec.refresh_refused else "disabled",
                    reason=rec.disabled_reason or None,
                    account=rec.account or None,
                    expires_at=_expiry(rec),
                )
            )
    return out


def _stored(state: RouterState) -> list[AuthRecord]:
    return [rec for _, rec in sorted(state.auth.records().items())]


def _view(cred: Credential, now: float) -> CredentialView:
    live = cred.auth if isinstance(cred.auth, LiveAuth) else None
    wait = max(0.0, cred.available_at() - now)
    models = {m: round(t - now, 1) for m, t in cred.model_cooling.items() if t > now} or None
    if live is not None and live.record.refresh_refused:
        st = "login_required"
    elif now < cred.disabled_until:
        st = "disabled"
    elif now < cred.cooling_until:
        st = "cooling"
    elif cred.breaker != "closed" and now < cred.breaker_until:
        st = "broken"
    elif models:  # some models rest (a limit that named them); the others still serve
        st = "cooling"
        wait = max(models.values())
    elif live is not None and live.refreshing:
        st = "refreshing"
    else:
        st = "ready"
    reason = cred.disabled_reason if st == "disabled" else None
    if st == "broken":
        reason = f"circuit {cred.breaker.replace('_', '-')}: {cred.breaker_reason}"
    elif st == "cooling" and models and now >= cred.cooling_until:
        reason = f"models resting: {', '.join(sorted(models))}"
    quota = cred.quota.to_json() if cred.quota is not None else None
    headroom = round(cred.headroom, 4) if cred.headroom is not None else None
    extra: dict[str, Any] = {"breaker": cred.breaker, "models": models, "headroom": headroom}
    if live is None:
        return CredentialView(
            cred.provider, cred.id, st, round(wait, 1), reason, quota=quota, **extra
        )
    rec = live.record
    return CredentialView(
        provider=cred.provider,
        id=cred.id,
        state=st,
        wait_s=round(wait, 1),
        reason=reason or rec.disabled_reason or None,
        account=rec.account or None,
        expires_at=_expiry(rec),
        refresh_error=live.error or None,
        quota=quota,
        **extra,
    )


def _expiry(rec: AuthRecord) -> str | None:
    value = rec.summary().get("expires_at")
    return value if isinstance(value, str) else None
