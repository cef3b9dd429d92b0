"""A local Anthropic Messages API that answers like api.anthropic.com.

Wire facts reproduced (docs.claude.com/en/api/messages-streaming,
docs.claude.com/en/api/errors, and the official SDK's parser):

* ``POST /v1/messages`` (``?beta=true`` accepted), ``POST
  /v1/messages/count_tokens`` -> ``{"input_tokens": N}``, ``GET /v1/models``
  (``data``/``has_more``/``first_id``/``last_id``) and ``GET /v1/models/{id}``.
* Stream: ``message_start`` (input usage), per block ``content_block_start``
  / ``content_block_delta`` (``text_delta``, ``thinking_delta`` then
  ``signature_delta``, ``input_json_delta`` starting with ``""``) /
  ``content_block_stop``, one ``ping`` after the first block start,
  ``message_delta`` (stop_reason + cumulative usage), ``message_stop``.
* Errors: ``{"type":"error","error":{"type","message"},"request_id"}`` with
  a ``request-id`` header; 429 carries ``retry-after``; 529 is
  ``overloaded_error``.
* Auth: ``x-api-key`` or ``Authorization: Bearer``; a subscription OAuth
  token (``sk-ant-oat...``) also needs the ``oauth-2025-04-20`` beta and
  Claude Code's shape (billing header as ``system[0]``, ``metadata.user_id``:
  ``_claude_subscription``), as the real API demands, and its answers carry
  the plan's ``anthropic-ratelimit-unified-*`` headers (``plan_usage``).
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from typing import Any

import orjson
from aiohttp import web

from . import _sse
from ._anthropic_checks import check_messages_request
from ._base import Call, FakeServer, request_json, usage_of
from ._behaviours import Reply, split_text
from ._claude_subscription import check_subscription_request, unified_headers

__all__ = ["FakeAnthropic", "thinking_signature"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_ERROR_MESSAGES = {
    401: "invalid x-api-key",
    402: "Your credit balance is too low to access the Anthropic API.",
    403: "Your API key does not have permission to use the specified resource.",
    404: "Not found",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: (
        "This request would exceed the rate limit for your organization of 50 requests per"
        " minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can"
        " see the response headers for current usage. Please reduce the prompt length or the"
        " maximum tokens requested, or try again later."
    ),
    500: "Internal server error",
    504: "Request timed out",
    529: "Overloaded",
}
_DEFAULT_MODELS = (
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
)
_ORG_ID = "5c3e8d2a-6a4b-4c8e-9a51-2f1d0b7e4c11"
_OAUTH_BETA = "oauth-2025-04-20"
_OAUTH_PREFIX = "sk-ant-oat"
_ALNUM = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _anthropic_id(prefix: str) -> str:
    return prefix + "01" + "".join(secrets.choice(_ALNUM) for _ in range(22))


def thinking_signature(thinking: str) -> str:
    """The deterministic signature the fake puts on a thinking block, so a
    test can assert the router passed it through untouched."""
    digest = hashlib.sha256(thinking.encode()).digest()
    return base64.b64encode(b"fake-signature:" + digest * 3).decode()


class FakeAnthropic(FakeServer):
    """Fake ``https://api.anthropic.com``; ``base_url`` has no ``/v1``."""

    base_path = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The subscription's use of its 5-hour and 7-day windows (fractions), as reported.
        self.plan_usage: dict[str, float] = {"5h": 0.25, "7d": 0.5}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/messages", self._messages),
            web.post("/v1/messages/count_tokens", self._count_tokens),
            web.get("/v1/models", self._list_models),
            web.get("/v1/models/{model_id}", self._get_model),
        ]

    # -- errors ---------------------------------------------------------

    def error_response(
        self, status: int, message: str | None, retry_after: float | None, kind: str | None
    ) -> web.Response:
        request_id = _anthropic_id("req_")
        error_type = kind or _ERROR_TYPES.get(status, "api_error")
        body = {
            "type": "error",
            "error": {
                "type": error_type,
                "message": message or _ERROR_MESSAGES.get(status, "Internal server error"),
            },
            "request_id": request_id,
        }
        headers = {"request-id": request_id, "anthropic-organization-id": _ORG_ID}
        if retry_after is not None:
            headers["retry-after"] = str(max(0, math.ceil(retry_after)))
        if status == 429:
            headers["anthropic-ratelimit-requests-limit"] = "50"
            headers["anthropic-ratelimit-requests-remaining"] = "0"
        return self.json(body, status, headers)

    def stream_error(self, status: int, message: str | None, call: Call, sent: int) -> bytes:
        error = {
            "type": _ERROR_TYPES.get(status, "api_error"),
            "message": message or _ERROR_MESSAGES.get(status, "Internal server error"),
        }
        payload = {"type": "error", "error": error, "request_id": "req_011C" + call.rid[:20]}
        return _sse.event("error", payload)

    def not_found(self, request: web.Request) -> web.Response:
        return self.error_response(404, "Not Found", None, None)

    def _invalid(self, message: str) -> web.Response:
        return self.error_response(400, message, None, None)

    def _check_auth(self, request: web.Request, *, oauth_checks: bool) -> web.Response | None:
        api_key = request.headers.get("x-api-key")
        bearer = request.headers.get("Authorization", "")
        token = bearer[7:] if bearer[:7].lower() == "bearer " else None
        if self.api_keys:
            if api_key is None and token is None:
                return self.error_response(401, "x-api-key header is required", None, None)
            if api_key is not None and api_key not in self.api_keys:
                return self.error_response(401, "invalid x-api-key", None, None)
            if api_key is None and token not in self.api_keys:
                return self.error_response(401, "Invalid bearer token", None, None)
        if "anthropic-version" not in request.headers:
            return self._invalid("anthropic-version: header is required")
        if api_key is None and token is not None and token.startswith(_OAUTH_PREFIX):
            betas = request.headers.get("anthropic-beta", "")
            if _OAUTH_BETA not in {b.strip() for b in betas.split(",")}:
                return self.error_response(
                    401, "OAuth authentication is currently not supported.", None, None
                )
            body = request_json(request)
            if oauth_checks and isinstance(body, dict):
                problem = check_subscription_request(body)
                if problem is not None:
                    return self._invalid(problem)
        return None

    @staticmethod
    def _subscription(request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "")
        return "x-api-key" not in request.headers and bearer[7:].startswith(_OAUTH_PREFIX)

    # -- handlers -------------------------------------------------------

    async def _validated(self, request: web.Request, *, count_tokens: bool) -> Any:
        body = request_json(request)
        if body is None:
            return self._invalid(
                "There was an issue with the format or content of your request: the body is"
                " not valid JSON."
            )
        try:
            problem = check_messages_request(body, count_tokens=count_tokens)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A field of a type the checks do not expect ([] for a block type): the real
            # API refuses such a body with a 400 too, never a 500.
            problem = f"There was an issue with the format or content of your request: {exc}"
        if problem:
            return self._invalid(problem)
        if self.models is not None and body["model"] not in self.models:
            return self.error_response(404, f"model: {body['model']}", None, None)
        return body

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_auth(request, oauth_checks=True)
        if denied is not None:
            return denied
        body = await self._validated(request, count_tokens=False)
        if isinstance(body, web.Response):
            return body
        api = "subscription" if self._subscription(request) else ""
        call = self.new_call(request, body["model"], body.get("stream") is True, body, api)
        return await self.answer(request, call)

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_auth(request, oauth_checks=False)
        if denied is not None:
            return denied
        body = await self._validated(request, count_tokens=True)
        if isinstance(body, web.Response):
            return body
        call = self.new_call(request, body["model"], False, body)
        return self.json({"input_tokens": call.input_tokens}, headers=self.response_headers(call))

    def _model_infos(self) -> list[dict[str, Any]]:
        known = {m[0]: m for m in _DEFAULT_MODELS}
        ids = self.models if self.models is not None else tuple(known)
        return [
            {
                "type": "model",
                "id": model_id,
                "display_name": known.get(model_id, (model_id, model_id))[1],
                "created_at": known.get(model_id, ("", "", "2025-01-01T00:00:00Z"))[2],
                "lifecycle": "active",
            }
            for model_id in ids
        ]

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_auth(request, oauth_checks=False)
        if denied is not None:
            return denied
        data = self._model_infos()
        return self.json(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_auth(request, oauth_checks=False)
        if denied is not None:
            return denied
        for info in self._model_infos():
            if info["id"] == request.match_info["model_id"]:
                return self.json(info)
        return self.error_response(404, f"model: {request.match_info['model_id']}", None, None)

    # -- rendering --------------------------------------------------------

    def response_headers(self, call: Call) -> dict[str, str]:
        return {
            "request-id": "req_011C" + call.rid[:20],
            "anthropic-organization-id": _ORG_ID,
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
            "x-robots-tag": "none",
            **({"Cache-Control": "no-cache"} if call.stream else {}),
            **(unified_headers(self.plan_usage) if call.api == "subscription" else {}),
        }

    def _shows_thinking(self, reply: Reply, call: Call) -> str | None:
        """Thinking text to show, ``""`` for an omitted-display block, or
        ``None`` when the request did not enable thinking (then the real
        model does not think, so no block is produced)."""
        config = call.body.get("thinking")
        if reply.thinking is None or not isinstance(config, dict):
            return None
        if config.get("type") not in ("enabled", "adaptive"):
            return None
        return "" if config.get("display") == "omitted" else reply.thinking

    def _stop(self, reply: Reply) -> str:
        return reply.stop or ("tool_use" if reply.tool_calls else "end_turn")

    def _blocks(self, reply: Reply, call: Call) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        thinking = self._shows_thinking(reply, call)
        if thinking is not None:
            assert reply.thinking is not None
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": thinking,
                    "signature": thinking_signature(reply.thinking),
                }
            )
        if reply.text or not reply.tool_calls:
            blocks.append({"type": "text", "text": reply.text})
        for tool in reply.tool_calls:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tool.id,
                    "name": tool.name,
                    "input": dict(tool.arguments),
                }
            )
        return blocks

    def _message(
        self, reply: Reply, call: Call, content: list[Any], stop: str | None, out: int
    ) -> dict[str, Any]:
        in_tokens = usage_of(reply, call)[0]
        return {
            "model": reply.model or call.model,
            "id": "msg_01" + call.rid[:22],
            "type": "message",
            "role": "assistant",
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": in_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                "output_tokens": out,
                "service_tier": "standard",
            },
        }

    def render_json(self, reply: Reply, call: Call) -> bytes:
        out = usage_of(reply, call)[1]
        return orjson.dumps(
            self._message(reply, call, self._blocks(reply, call), self._stop(reply), out)
        )

    def render_stream(self, reply: Reply, call: Call) -> list[bytes]:
        in_tokens, out_tokens = usage_of(reply, call)
        ev = _sse.event
        frames = [
            ev(
                "message_start",
                {"type": "message_start", "message": self._message(reply, call, [], None, 1)},
            )
        ]
        for index, block in enumerate(self._blocks(reply, call)):
            kind = block["type"]
            if kind == "thinking":
                start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [
                    {"type": "thinking_delta", "thinking": piece}
                    for piece in split_text(block["thinking"], reply.chunks)
                ]
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
            elif kind == "text":
                start = {"type": "text", "text": ""}
                deltas = [
                    {"type": "text_delta", "text": piece}
                    for piece in split_text(block["text"], reply.chunks)
                ]
            else:
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                raw = orjson.dumps(block["input"]).decode()
                deltas = [{"type": "input_json_delta", "partial_json": ""}]
                deltas += [
                    {"type": "input_json_delta", "partial_json": raw[i : i + 16]}
                    for i in range(0, len(raw), 16)
                ]
            frames.append(
                ev(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": start},
                )
            )
            if index == 0:
                frames.append(ev("ping", {"type": "ping"}))
            frames += [
                ev(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": d},
                )
                for d in deltas
            ]
            frames.append(ev("content_block_stop", {"type": "content_block_stop", "index": index}))
        frames.append(
            ev(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop(reply), "stop_sequence": None},
                    "usage": {
                        "input_tokens": in_tokens,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": out_tokens,
                    },
                },
            )
        )
        frames.append(ev("message_stop", {"type": "message_stop"}))
        return frames
