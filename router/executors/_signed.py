"""What the signed-in executors share: a fresh token per call, one retry on 401,
and the plan usage each answer reports.

The token comes from the credential's live sign-in (``router.auth``): in
memory while fresh, refreshed single-flight when it lapses. A 401 from the
upstream refreshes once (or picks up a refresh another request just did) and
the call is sent again; a second 401 goes to routing like any auth failure.
A subscription answer's rate-limit headers become the credential's
``quota`` (``router.auth.Quota``) before its body is read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable

from router.auth import Credential, RefreshFailed, Token, quota_from_headers
from router.errors import UpstreamConnectError, UpstreamHTTPError

from ._base import UpstreamCall, UpstreamReply
from ._http import HTTPExecutor

__all__ = ["SignedInExecutor"]


class SignedInExecutor(HTTPExecutor):
    """Base for ``claude-oauth``, ``codex-oauth`` and ``ctonew``."""

    async def send(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        source = credential.auth
        if source is None:
            raise UpstreamHTTPError(401, f"{self.name}: credential has no stored sign-in")
        token = await self._token(source.token())
        try:
            return _noted(await self.send_token(_fresh(call), token), credential)
        except UpstreamHTTPError as exc:
            if exc.status != 401:
                raise
        token = await self._token(source.refreshed(token))
        return _noted(await self.send_token(_fresh(call), token), credential)

    async def send_token(self, call: UpstreamCall, token: Token) -> UpstreamReply:
        raise NotImplementedError

    async def _token(self, pending: Awaitable[Token]) -> Token:
        try:
            return await pending
        except RefreshFailed as exc:
            if exc.refused:
                raise UpstreamHTTPError(
                    401,
                    f"{self.name}: the sign-in is no longer valid ({exc.message}); log in again",
                ) from None
            raise UpstreamConnectError(
                f"{self.name}: token refresh failed ({exc.message})"
            ) from None


def _fresh(call: UpstreamCall) -> UpstreamCall:
    """The call with a body of its own: a send that is tried again starts from the body
    the router gave, not from the last try's edits."""
    return dataclasses.replace(call, body=call.body.fork())


def _noted(reply: UpstreamReply, credential: Credential) -> UpstreamReply:
    """Keep the plan usage the answer's headers report (if any) on the credential."""
    headers = getattr(reply, "headers", None)
    if headers is not None:
        quota = quota_from_headers(headers)
        if quota is not None:
            credential.quota = quota
    return reply
