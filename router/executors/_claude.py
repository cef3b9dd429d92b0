"""``claude-oauth``: Anthropic Messages with a Claude subscription's OAuth token.

The API serves such a token only to requests shaped like Claude Code's
(``shared/fixtures/subscription/claude-code-oauth/``), and bills anything
else to "extra usage" or refuses it. So every request carries Claude Code's
shape (``_profiles.ClaudeProfile``):

* ``system[0]`` is the billing header (``_billing``), ``system[1]`` the
  identity line with a one-hour ``cache_control``, the client's own system
  text after them;
* ``metadata.user_id`` is the JSON string ``{"device_id", "account_uuid",
  "session_id"}``: the credential's device id and account, and one session
  id per conversation, also sent as ``X-Claude-Code-Session-Id``;
* Claude Code's headers in its order: user agent, the eight
  ``X-Stainless-*``, its beta list (the client's other betas appended),
  ``anthropic-version: 2023-06-01``.

When the client *is* Claude Code (its billing header is ``system[0]``), its
request is left as it is, headers included: only the credential changes
(the bearer, the ``oauth`` beta it adds when signed in, the account uuid in
its metadata).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson

from router.auth import Token
from router.formats import Format, WireBody
from suite.config import ProviderConfig

from ._base import UpstreamCall, UpstreamReply
from ._billing import billing_header, conversation_id, prompt_text, sign_body
from ._profiles import IDENTITIES, ClaudeProfile, with_oauth_beta
from ._signed import SignedInExecutor

__all__ = ["BILLING_PREFIX", "ClaudeOAuthExecutor", "is_claude_code", "shape_body"]

BILLING_PREFIX = "x-anthropic-billing-header:"
_ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}
_SIGN_IN_THREAD = 32 * 1024  # bodies larger than this are hashed off the event loop


def is_claude_code(body: Mapping[str, Any]) -> bool:
    """Claude Code's own request: its billing header is the first system block."""
    system = body.get("system")
    if not isinstance(system, list) or not system or not isinstance(system[0], dict):
        return False
    text = system[0].get("text")
    return isinstance(text, str) and text.startswith(BILLING_PREFIX)


def _system_blocks(system: Any) -> list[Any]:
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system else []
    return list(system) if isinstance(system, list) else []


def _user_id(token: Token, session_id: str) -> str:
    return orjson.dumps(
        {"device_id": token.device_id, "account_uuid": token.account_uuid, "session_id": session_id}
    ).decode()


def session_of(client: str, body: Mapping[str, Any]) -> str:
    """One id per conversation: the client key with the system text and first user message."""
    messages = body.get("messages")
    first = (
        next((m for m in messages if isinstance(m, dict) and m.get("role") == "user"), None)
        if isinstance(messages, list)
        else None
    )
    opening = orjson.dumps([body.get("system"), first.get("content") if first else None])
    return conversation_id(client, opening)


def shape_body(
    body: dict[str, Any],
    profile: ClaudeProfile,
    token: Token,
    session_id: str,
    *,
    cch: bool,
    count_tokens: bool = False,
) -> dict[str, Any]:
    """Claude Code's shape for a body another client wrote (changed in place)."""
    blocks = _system_blocks(body.get("system"))
    first = blocks[0] if blocks and isinstance(blocks[0], dict) else {}
    text = first.get("text")
    text = text if isinstance(text, str) else ""
    if text.startswith(IDENTITIES):
        if text in IDENTITIES and "cache_control" not in first:
            blocks[0] = {**first, "cache_control": dict(_ONE_HOUR)}
    else:
        blocks.insert(
            0, {"type": "text", "text": profile.identity, "cache_control": dict(_ONE_HOUR)}
        )
    billing = billing_header(
        prompt_text(body.get("messages")), profile.version, profile.entrypoint, cch
    )
    body["system"] = [{"type": "text", "text": billing}, *blocks]
    if not count_tokens:  # count_tokens refuses metadata
        body["metadata"] = {"user_id": _user_id(token, session_id)}
    return body


def _claude_code_session(wire: WireBody, token: Token) -> str:
    """Fill Claude Code's ``account_uuid`` with the credential's, when it differs (a new
    ``metadata``: the old one is the client's, shared with other attempts); its session
    id. A body whose account is already right is not touched, so its bytes go as they are."""
    meta = wire.data.get("metadata")
    raw = meta.get("user_id") if isinstance(meta, dict) else None
    try:
        user = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        user = None
    if not isinstance(user, dict):
        return ""
    if (
        token.account_uuid
        and isinstance(meta, dict)
        and user.get("account_uuid") != (token.account_uuid)
    ):
        user["account_uuid"] = token.account_uuid
        wire.edit()["metadata"] = {**meta, "user_id": orjson.dumps(user).decode()}
    session = user.get("session_id")
    return session if isinstance(session, str) else ""


class ClaudeOAuthExecutor(SignedInExecutor):
    wire = Format.ANTHROPIC

    def __init__(self, provider: ProviderConfig) -> None:
        super().__init__(provider)
        self.profile = ClaudeProfile.from_options(provider.options)
        self._cch = self.profile.wants_cch(self.base_url)

    def url(self, call: UpstreamCall) -> str:
        if call.action == "count_tokens":
            return f"{self.base_url}/v1/messages/count_tokens?beta=true"
        return f"{self.base_url}/v1/messages?beta=true"

    async def send_token(self, call: UpstreamCall, token: Token) -> UpstreamReply:
        wire = call.body
        if is_claude_code(wire.data):
            # Claude Code's own request: only the account in its metadata may change.
            session = _claude_code_session(wire, token)
            headers = self._claude_code_headers(call, session)
            data = wire.encoded()
        else:
            body = wire.edit()
            session = session_of(call.client, body)
            counting = call.action == "count_tokens"
            shape_body(body, self.profile, token, session, cch=self._cch, count_tokens=counting)
            betas = self.profile.merge_betas(call.forward_headers.get("anthropic-beta"))
            headers = self.profile.headers(session, betas)
            data = wire.encoded()
            if self._cch:
                big = len(data) > _SIGN_IN_THREAD
                data = await asyncio.to_thread(sign_body, data) if big else sign_body(data)
        ordered = {"Accept": headers.pop("Accept", "application/json")}
        ordered["Authorization"] = f"Bearer {token.access}"
        return await self.post(
            self.url(call), data, {**ordered, **headers, **self.provider.headers}, token.proxy_url
        )

    def _claude_code_headers(self, call: UpstreamCall, session: str) -> dict[str, str]:
        """Claude Code's own headers as it sent them; the profile's where it sent none."""
        sent = {k.lower(): (k, v) for k, v in call.client_headers.items()}
        betas = call.forward_headers.get("anthropic-beta") or ",".join(self.profile.beta_list)
        session = sent.get("x-claude-code-session-id", ("", session))[1] or session
        out: dict[str, str] = {}
        for name, value in self.profile.headers(session, with_oauth_beta(betas)).items():
            low = name.lower()
            if low == "anthropic-version":
                value = call.forward_headers.get("anthropic-version") or value
            elif low in sent:
                name, value = sent.pop(low)
            out[name] = value
        out.update(dict(sent.values()))  # anything else it sent (a newer X-Stainless-*)
        return out
