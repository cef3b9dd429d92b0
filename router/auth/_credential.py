"""A credential and the state that decides whether it may be used now.

The state lives here, not in the routing rules, so it survives a config
reload: a key that is cooling down after a 429 stays cooling when the rules
change under it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from suite.config import KINDS, CooldownConfig, ProviderConfig

from ._quota import Quota
from ._record import Token

__all__ = ["BreakerState", "Credential", "CredentialPool", "TokenSource"]


class TokenSource(Protocol):
    """A stored credential's live token (OAuth, cto.new): fresh on demand."""

    name: str

    async def token(self) -> Token: ...

    async def refreshed(self, stale: Token) -> Token: ...


BreakerState = Literal["closed", "open", "half_open"]


@dataclass(slots=True, eq=False)
class Credential:
    """One key or token of a provider. ``id`` is safe to log; ``secret`` never is.

    Every time here is epoch seconds (``time.time()``), the clock the workers share
    (``router.shared``). What changes the state is decided by ``router.scheduling``;
    the methods here only apply it.
    """

    id: str
    provider: str
    secret: str = field(repr=False)
    cooling_until: float = 0.0
    strikes: int = 0
    disabled_until: float = 0.0
    disabled_reason: str | None = None
    # Store-backed credentials: where the current token comes from (secret is unused).
    auth: TokenSource | None = field(default=None, repr=False)
    # Subscriptions: the plan usage the upstream last reported (router.auth._quota).
    quota: Quota | None = None
    # The circuit breaker: open until ``breaker_until`` after ``failures`` in a row,
    # then one probe (half_open, which holds the credential until ``breaker_until``).
    breaker: BreakerState = "closed"
    breaker_until: float = 0.0
    failures: int = 0
    trips: int = 0  # opens in a row (the backoff doubles with each)
    breaker_reason: str | None = None
    # Limits that name a model rest only that model: model -> until, and strikes.
    model_cooling: dict[str, float] = field(default_factory=dict)
    model_strikes: dict[str, int] = field(default_factory=dict)
    # The fraction left of the tightest standard limit (x-ratelimit-remaining-*), if known.
    headroom: float | None = None

    def ready(self, now: float, model: str | None = None) -> bool:
        if now < self.cooling_until or now < self.disabled_until:
            return False
        if self.breaker != "closed" and now < self.breaker_until:
            return False
        return model is None or now >= self.model_cooling.get(model, 0.0)

    def available_at(self, model: str | None = None) -> float:
        at = max(self.cooling_until, self.disabled_until)
        if self.breaker != "closed":
            at = max(at, self.breaker_until)
        if model is not None:
            at = max(at, self.model_cooling.get(model, 0.0))
        return at

    @property
    def state(self) -> str:
        return "disabled" if self.disabled_reason else "ready"

    # -- outcomes ------------------------------------------------------------

    def succeeded(self, model: str | None = None) -> None:
        self.strikes = 0
        self.disabled_reason = None
        self.failures = 0
        self.trips = 0
        self.breaker = "closed"
        self.breaker_until = 0.0
        self.breaker_reason = None
        if model is not None and model in self.model_strikes:
            del self.model_strikes[model]

    def rate_limited(self, now: float, retry_after: float | None, policy: CooldownConfig) -> float:
        """Rest after a 429: the upstream's Retry-After, else exponential backoff, capped."""
        self.strikes += 1
        wait = _backoff(self.strikes, retry_after, policy)
        self.cooling_until = max(self.cooling_until, now + wait)
        return wait

    def model_limited(
        self, model: str, now: float, retry_after: float | None, policy: CooldownConfig
    ) -> float:
        """Rest one model after a limit that names it; the others stay in rotation."""
        strikes = self.model_strikes.get(model, 0) + 1
        self.model_strikes[model] = strikes
        wait = _backoff(strikes, retry_after, policy)
        self.model_cooling[model] = max(self.model_cooling.get(model, 0.0), now + wait)
        if len(self.model_cooling) > 64:  # bounded: forget the rests that are over
            for name in [m for m, until in self.model_cooling.items() if until <= now]:
                del self.model_cooling[name]
        return wait

    def auth_failed(self, now: float, reason: str, policy: CooldownConfig) -> None:
        """The upstream refused this secret: keep it out of rotation for a long while."""
        self.disabled_until = now + policy.auth_failure_seconds
        self.disabled_reason = reason

    def reset(self) -> None:
        """Back to ready (the management reset): no rest, breaker or strikes. The plan
        usage stays: it is what the upstream said, not something a reset undoes."""
        self.cooling_until = self.disabled_until = self.breaker_until = 0.0
        self.strikes = self.failures = self.trips = 0
        self.disabled_reason = self.breaker_reason = None
        self.breaker = "closed"
        self.model_cooling.clear()
        self.model_strikes.clear()


def _backoff(strikes: int, retry_after: float | None, policy: CooldownConfig) -> float:
    if retry_after is not None and retry_after > 0:
        return min(retry_after, policy.max_seconds)
    return min(policy.base_seconds * float(2 ** min(strikes - 1, 30)), policy.max_seconds)


def key_fingerprint(secret: str) -> str:
    """A short, non-reversible tag so logs can tell keys apart without showing them."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


class CredentialPool:
    """The API-key credentials of every provider, kept across reloads."""

    def __init__(self) -> None:
        self._by_id: dict[str, Credential] = {}

    def sync(
        self,
        providers: Iterable[ProviderConfig],
        sources: Mapping[str, Sequence[TokenSource]] | None = None,
        service_token: str = "",
    ) -> dict[str, list[Credential]]:
        """Credentials per provider for a (re)loaded config; known ones keep their state.

        API-key kinds get their ``api_keys``; store-backed kinds (``sources``, by
        kind) get every stored credential of their type, or the ``accounts`` listed.
        Service kinds (``webai``) without ``api_keys`` get one synthetic credential
        whose secret is ``service_token`` (``services.token``; may be empty).
        """
        out: dict[str, list[Credential]] = {}
        seen: dict[str, Credential] = {}
        for prov in providers:
            creds: list[Credential] = []
            source = KINDS[prov.kind].credentials
            if source == "store":
                for src in _selected(prov, (sources or {}).get(prov.kind, ())):
                    cid = f"{prov.name}/{src.name}"
                    cred = self._by_id.get(cid) or Credential(id=cid, provider=prov.name, secret="")
                    cred.auth = src
                    seen[cid] = cred
                    creds.append(cred)
                out[prov.name] = creds
                continue
            if source == "service" and not prov.api_keys:
                cid = f"{prov.name}/service-{key_fingerprint(service_token)}"
                cred = self._by_id.get(cid) or Credential(cid, prov.name, service_token)
                seen[cid] = cred
                out[prov.name] = [cred]
                continue
            for i, secret in enumerate(prov.api_keys, start=1):
                cid = f"{prov.name}/key{i}-{key_fingerprint(secret)}"
                cred = self._by_id.get(cid) or Credential(id=cid, provider=prov.name, secret=secret)
                seen[cid] = cred
                creds.append(cred)
            out[prov.name] = creds
        self._by_id = seen
        return out

    def all(self) -> list[Credential]:
        return list(self._by_id.values())


def _selected(prov: ProviderConfig, sources: Sequence[TokenSource]) -> list[TokenSource]:
    wanted = getattr(prov.settings, "accounts", ())
    if not wanted:
        return list(sources)
    names = {str(w) for w in wanted}
    return [s for s in sources if s.name in names or s.name.split("-", 1)[-1] in names]
