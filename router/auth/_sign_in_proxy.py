"""Which proxy a sign-in's token endpoint is reached through (docs/operations.md).

Kept apart from ``_manager`` so that holds only the credentials' life cycle.
"""

from __future__ import annotations

from collections.abc import Mapping

from suite.config import Config
from suite.proxies import Proxy, ProxyPolicy

from ._record import KIND_TYPES

__all__ = ["SignInProxies"]


class SignInProxies:
    """Whose proxy a sign-in uses: the credential's, else the first provider's of its
    kind (the one that also sets its endpoints), else ``server.proxy_url``."""

    __slots__ = ("policy", "own")

    def __init__(self, policy: ProxyPolicy, own: Mapping[str, str]) -> None:
        self.policy = policy
        self.own = own  # record type -> that provider's own proxy_url

    @classmethod
    def of(cls, config: Config) -> SignInProxies:
        own: dict[str, str] = {}
        for prov in config.providers.values():
            type_ = KIND_TYPES.get(prov.kind)
            if type_ is not None and type_ not in own:
                own[type_] = prov.proxy_url
        return cls(config.server.proxy, own)

    def choose(self, type_: str, url: str, own: str) -> Proxy | None:
        return self.policy.choose(own or self.own.get(type_, ""), url)
