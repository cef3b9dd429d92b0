"""A credential and the state that decides whether it may be used now.

The state lives here, not in the routing rules, so it survives a config
reload: a key that is cooling down after a 429 stays cooling when the rules
change under it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from suite.config import CooldownConfig, ProviderConfig

from ._quota import Quota
from ._record import KIND_TYPES, Token

__all__ = ["Credential", "CredentialPool", "TokenSource"]

# Kinds served by a local service of the suite: its credential is the suite's shared token.
SERVICE_KINDS = frozenset({"webai"})


class TokenSource(Protocol):
    """A stored credential's live token (OAuth, cto.new): fresh on demand."""

    name: str

    async def token(self) -> Token: ...

    async def refreshed(self, stale: Token) -> Token: ...


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
    # Store-backed credentials: where the current token comes from (secret is unused).
    auth: TokenSource | None = field(default=None, repr=False)
    # Subscriptions: the plan usage the upstream last reported (router.auth._quota).
    quota: Quota | None = None

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
            if prov.kind in KIND_TYPES:
                for src in _selected(prov, (sources or {}).get(prov.kind, ())):
                    cid = f"{prov.name}/{src.name}"
                    cred = self._by_id.get(cid) or Credential(id=cid, provider=prov.name, secret="")
                    cred.auth = src
                    seen[cid] = cred
                    creds.append(cred)
                out[prov.name] = creds
                continue
            if prov.kind in SERVICE_KINDS and not prov.api_keys:
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
    wanted = prov.options.get("accounts")
    if not isinstance(wanted, list) or not wanted:
        return list(sources)
    names = {str(w) for w in wanted}
    return [s for s in sources if s.name in names or s.name.split("-", 1)[-1] in names]
