"""A credential and the state that decides whether it may be used now.

The state lives here, not in the routing rules, so it survives a config
reload: a key that is cooling down after a 429 stays cooling when the rules
change under it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from suite.config import CooldownConfig, ProviderConfig

__all__ = ["Credential", "CredentialPool"]


@dataclass(slots=True, eq=False)
class Credential:
    """One key or token of a provider. ``id`` is safe to log; ``secret`` never is."""

    id: str
    provider: str
    secret: str = field(repr=False)
    cooling_until: float = 0.0
    strikes: int = 0
    disabled_until: float = 0.0
    disabled_reason: str | None = None

    def ready(self, now: float) -> bool:
        return now >= self.cooling_until and now >= self.disabled_until

    def available_at(self) -> float:
        return max(self.cooling_until, self.disabled_until)

    @property
    def state(self) -> str:
        return "disabled" if self.disabled_reason else "ready"

    # -- outcomes ------------------------------------------------------------

    def succeeded(self) -> None:
        self.strikes = 0
        self.disabled_reason = None

    def rate_limited(self, now: float, retry_after: float | None, policy: CooldownConfig) -> float:
        """Rest after a 429: the upstream's Retry-After, else exponential backoff, capped."""
        self.strikes += 1
        if retry_after is not None and retry_after > 0:
            wait = min(retry_after, policy.max_seconds)
        else:
            wait = min(policy.base_seconds * (2 ** (self.strikes - 1)), policy.max_seconds)
        self.cooling_until = max(self.cooling_until, now + wait)
        return wait

    def auth_failed(self, now: float, reason: str, policy: CooldownConfig) -> None:
        """The upstream refused this secret: keep it out of rotation for a long while."""
        self.disabled_until = now + policy.auth_failure_seconds
        self.disabled_reason = reason


def key_fingerprint(secret: str) -> str:
    """A short, non-reversible tag so logs can tell keys apart without showing them."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


class CredentialPool:
    """The API-key credentials of every provider, kept across reloads."""

    def __init__(self) -> None:
        self._by_id: dict[str, Credential] = {}

    def sync(self, providers: Iterable[ProviderConfig]) -> dict[str, list[Credential]]:
        """Credentials per provider for a (re)loaded config; known ones keep their state."""
        out: dict[str, list[Credential]] = {}
        seen: dict[str, Credential] = {}
        for prov in providers:
            creds: list[Credential] = []
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
