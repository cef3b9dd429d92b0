"""The ``webai`` executor: OpenAI Chat Completions to the local webai service.

The service (``python -m webai``) answers with the user's Gemini web session
or its g4f fallback chain; to the router it is one OpenAI-compatible upstream,
so routing, failover (its 401 when the cookies need renewing, its 429 when
rate limited) and translation to every client format work as for any
provider. The default rule ``.*-webai$`` picks it by suffix, which this
executor strips from the model it sends: ``gemini-2.5-flash-webai`` is asked
for as ``gemini-2.5-flash``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from router.auth import Credential
from router.formats import Format
from suite.config import ProviderConfig

from ._base import UpstreamCall, UpstreamReply
from ._http import HTTPExecutor

__all__ = ["WebAIExecutor"]

SUFFIX = "-webai"


class WebAIExecutor(HTTPExecutor):
    """Chat Completions at ``url`` (or ``base_url``), default http://127.0.0.1:8406."""

    wire = Format.OPENAI

    def __init__(self, provider: ProviderConfig) -> None:
        super().__init__(provider)
        url = provider.options.get("url")
        if isinstance(url, str) and url:
            self.base_url = url.rstrip("/")

    def url(self, call: UpstreamCall) -> str:
        return f"{self.base_url}/v1/chat/completions"

    def auth_headers(self, credential: Credential) -> Mapping[str, str]:
        # The service's shared token (services.token); empty: a loopback service without one.
        return {"Authorization": f"Bearer {credential.secret}"} if credential.secret else {}

    async def send(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        if call.model.endswith(SUFFIX):
            model = call.model.removesuffix(SUFFIX)
            call.body.edit()["model"] = model
            call = dataclasses.replace(call, model=model)
        return await super().send(call, credential)
