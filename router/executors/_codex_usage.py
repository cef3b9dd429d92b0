"""The ChatGPT plan's usage on demand: ``GET /backend-api/wham/usage``.

Codex CLI asks for it to show the user's limits; the management API asks for
it (``GET /v1/auth/credentials/{name}/usage``) so an operator can see an
account's windows before any request has gone through it. The answer also
becomes the credential's ``quota``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from router.auth import Credential, quota_from_usage
from router.errors import UpstreamConnectError, UpstreamHTTPError, UpstreamTimeout

from ._http import _http_error, _reason, read_capped

if TYPE_CHECKING:
    from ._codex import CodexOAuthExecutor

__all__ = ["fetch_plan_usage"]


async def fetch_plan_usage(ex: CodexOAuthExecutor, credential: Credential) -> dict[str, Any]:
    """``{plan_type, rate_limit, quota}`` for ``credential``; errors as ``UpstreamError``."""
    source = credential.auth
    if source is None:
        raise UpstreamHTTPError(401, f"{ex.name}: credential has no stored sign-in")
    token = await ex._token(source.token())
    headers = {
        "user-agent": ex.profile.short_user_agent,
        "authorization": f"Bearer {token.access}",
        "accept": "*/*",
        "accept-encoding": ex.profile.trailer()["accept-encoding"],
    }
    if token.account_id:
        headers["chatgpt-account-id"] = token.account_id
    try:
        async with asyncio.timeout(ex._first_byte):
            resp = await ex.session(token.proxy_url).get(ex.usage_url, headers=headers)
            if resp.status >= 400:
                raise ex.refine(await _http_error(ex.name, resp))
            raw = await read_capped(resp, ex.provider.limits.max_response_bytes, ex.name)
    except TimeoutError as exc:
        raise UpstreamTimeout(f"{ex.name}: no usage answer within {ex._first_byte:g}s") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamConnectError(f"{ex.name}: unreachable ({_reason(exc)})") from exc
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamConnectError(f"{ex.name}: the usage answer is not JSON") from None
    quota = quota_from_usage(body)
    if quota is not None:
        credential.quota = quota
    doc = body if isinstance(body, dict) else {}
    return {
        "plan_type": doc.get("plan_type"),
        "rate_limit": doc.get("rate_limit"),
        "quota": quota.to_json() if quota is not None else None,
    }
