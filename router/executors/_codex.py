"""``codex-oauth``: OpenAI Responses on the ChatGPT backend with a subscription token.

Requests look like Codex CLI's (``shared/fixtures/subscription/codex-chatgpt/``,
``_profiles.CodexProfile``): ``originator``, its user agent and ``version``;
one id per conversation sent as ``session-id``, ``thread-id``,
``x-client-request-id`` and the body's ``prompt_cache_key`` (the backend
caches prompts by it: a fresh id per turn would be a cache miss every time);
no ``instructions`` (system text goes in as a ``developer`` item, where Codex
puts its base prompt); ``store: false``, ``stream: true``. When the client
is Codex itself its own ``x-codex-*`` headers, ids and ``client_metadata``
go through as they are.

Older backends refused that shape with 400 "Instructions are required" /
"Instructions are not valid" / "System messages are not allowed"; on one of
those the request is sent again the old way (system text in
``instructions``) and the provider keeps to the old way until the router
restarts. A client that did not ask for a stream gets the stream folded into
one Responses body (a stream that ends without ``response.completed`` is an
error).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from router.auth import Credential, Token
from router.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamReplyTooLarge,
)
from router.formats import Format, SSEParser, WireBody, ir, responses
from suite.config import ProviderConfig

from ._base import UpstreamCall, UpstreamReply
from ._billing import conversation_id
from ._codex_usage import fetch_plan_usage
from ._profiles import CodexProfile
from ._signed import SignedInExecutor

__all__ = ["AggregatedReply", "CodexOAuthExecutor", "codex_body", "legacy_body", "session_of"]

DEFAULT_INSTRUCTIONS = "You are a helpful assistant."
_UNSUPPORTED = (
    "max_output_tokens",
    "max_tokens",
    "max_completion_tokens",
    "previous_response_id",
    "temperature",
    "top_p",
    "truncation",
    "user",
    "metadata",
    "stream_options",
    "prompt_cache_retention",
    "safety_identifier",
    "generate",
    "background",
)
_ENCRYPTED = "reasoning.encrypted_content"
# The older backends' answers that mean "put the system text in instructions".
_LEGACY_DETAILS = (
    b"Instructions are required",
    b"Instructions are not valid",
    b"System messages are not allowed",
)
_SESSION_HEADERS = ("session-id", "session_id")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("text")
        )
    return ""


def _load(wire: WireBody) -> dict[str, Any]:
    """The body to shape (``wire``'s own copy: the caller gives each try a fresh one),
    its ``input`` always a list of items."""
    body: dict[str, Any] = wire.edit()
    items = body.get("input")
    if isinstance(items, str):
        text = {"type": "input_text", "text": items}
        body["input"] = [{"type": "message", "role": "user", "content": [text]}]
    elif not isinstance(items, list):
        body["input"] = []
    return body


def _finish(body: dict[str, Any], model: str) -> None:
    for name in _UNSUPPORTED:
        body.pop(name, None)
    include = body.get("include")
    include = [i for i in include if isinstance(i, str)] if isinstance(include, list) else []
    if _ENCRYPTED not in include:
        include.append(_ENCRYPTED)
    body.update(model=model, store=False, stream=True, include=include)


def _developer(text: str) -> dict[str, Any]:
    content = [{"type": "input_text", "text": text}]
    return {"type": "message", "role": "developer", "content": content}


def codex_body(body: dict[str, Any], model: str, base_prompt: str = "") -> dict[str, Any]:
    """Codex's shape (changed in place): no ``instructions``; the client's instructions
    (else ``base_prompt``) become a leading ``developer`` item, system items developer ones."""
    instructions = body.pop("instructions", None)
    text = instructions if isinstance(instructions, str) and instructions.strip() else base_prompt
    items = []
    for item in body["input"]:
        if isinstance(item, dict) and item.get("role") == "system":
            item = {**item, "role": "developer"}
        items.append(item)
    body["input"] = [_developer(text), *items] if text else items
    _finish(body, model)
    return body


def legacy_body(body: dict[str, Any], model: str, default: str) -> dict[str, Any]:
    """The older backends' shape (changed in place): ``instructions`` required, holding the
    client's instructions and system items (else ``default``); no system items in input."""
    system: list[str] = []
    kept = []
    for item in body["input"]:
        if isinstance(item, dict) and item.get("role") == "system":
            text = _text_of(item.get("content"))
            if text:
                system.append(text)
        else:
            kept.append(item)
    instructions = body.get("instructions")
    parts = [instructions] if isinstance(instructions, str) and instructions.strip() else []
    body["instructions"] = "\n\n".join(parts + system) or default
    body["input"] = kept
    _finish(body, model)
    return body


def session_of(call: UpstreamCall, body: Mapping[str, Any]) -> str:
    """The conversation's id: the client's own (``session-id`` header or
    ``prompt_cache_key``), else derived from the client key and the opening items
    (everything up to the first user message, and the instructions)."""
    for name, value in call.client_headers.items():
        if name.lower() in _SESSION_HEADERS and value:
            return value
    key = body.get("prompt_cache_key")
    if isinstance(key, str) and key:
        return key
    opening: list[Any] = [body.get("instructions")]
    for item in body.get("input") or ():
        opening.append(item)
        if isinstance(item, dict) and item.get("role") == "user":
            break
    return conversation_id(call.client, orjson.dumps(opening))


class _Tools:
    """The request's tools, which a folded answer needs to name its calls in their own
    shape: the router's IR when it made one, else read from the body's data (only for
    an answer that is folded, and only then)."""

    __slots__ = ("_request", "_body")

    def __init__(self, call: UpstreamCall) -> None:
        self._request = call.request
        self._body = call.body

    def __call__(self) -> tuple[ir.Tool, ...]:
        if self._request is not None:
            return self._request.tools
        try:
            return responses.request_to_ir(self._body.data).tools
        except (ir.TranslationError, orjson.JSONDecodeError, TypeError, ValueError):
            return ()


class AggregatedReply:
    """A Responses stream read to its end and folded into one Responses body."""

    status = 200
    content_type = "application/json"

    def __init__(
        self, reply: UpstreamReply, model: str, tools: _Tools, limit: int = 64 * 1024 * 1024
    ) -> None:
        self._reply = reply
        self._model = model
        self._tools = tools
        self._limit = limit  # what may be folded into one body (max_response_bytes)
        self.headers = getattr(reply, "headers", None)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield await self.read()

    async def read(self) -> bytes:
        parser = SSEParser()
        decoder = responses.StreamDecoder()
        events: list[ir.Event] = []
        size = 0
        async for chunk in self._reply.chunks():
            size += len(chunk)
            if size > self._limit:
                raise UpstreamReplyTooLarge(
                    f"codex: answer larger than {self._limit} bytes"
                    " (server.limits.max_response_bytes)"
                )
            for name, data in parser.feed(chunk):
                events.extend(decoder.feed(name, data))
        for name, data in parser.finish():
            events.extend(decoder.feed(name, data))
        events.extend(decoder.finish())
        try:
            resp = ir.aggregate(events)
        except ir.StreamFailed as exc:
            raise _stream_error(exc) from None
        tools = self._tools()
        return orjson.dumps(responses.response_from_ir(resp, self._model, tools=tools))

    def close(self) -> None:
        self._reply.close()


def _stream_error(exc: ir.StreamFailed) -> UpstreamError:
    status = {"rate_limit": 429, "overloaded": 503, "invalid_request": 400}.get(exc.kind)
    if status is None:
        return UpstreamConnectError(f"codex stream failed: {exc.message}")
    return UpstreamHTTPError(status, f"codex stream failed: {exc.message}")


def _version_of(sent: Mapping[str, str]) -> str:
    """Codex's version from its user agent (``codex_exec/0.169.0 (...)``) when it sent no
    ``version`` header: the two must agree."""
    if "originator" not in sent:
        return ""
    agent = sent.get("user-agent", "")
    name, _, rest = agent.partition("/")
    return rest.split(" ", 1)[0] if name == sent["originator"] else ""


class CodexOAuthExecutor(SignedInExecutor):
    wire = Format.RESPONSES

    def __init__(self, provider: ProviderConfig) -> None:
        super().__init__(provider)
        self.profile = CodexProfile.from_options(provider.options)
        self.legacy = False  # an older backend asked for instructions: send them from now on
        self.usage_url = f"{self.base_url.removesuffix('/codex')}/wham/usage"

    def url(self, call: UpstreamCall) -> str:
        return f"{self.base_url}/responses"

    async def send_token(self, call: UpstreamCall, token: Token) -> UpstreamReply:
        if not self.legacy:
            try:
                return await self._send(call, token, legacy=False)
            except UpstreamHTTPError as exc:
                if exc.status != 400 or not any(d in exc.body for d in _LEGACY_DETAILS):
                    raise
                self.legacy = True
        return await self._send(call, token, legacy=True)

    async def _send(self, call: UpstreamCall, token: Token, *, legacy: bool) -> UpstreamReply:
        wire = call.body.fork()  # a legacy retry starts again from the router's body
        body = _load(wire)
        session = session_of(call, body)
        base = str(self.provider.options.get("instructions") or "")
        if legacy:
            legacy_body(body, call.model, base or DEFAULT_INSTRUCTIONS)
        else:
            codex_body(body, call.model, base)
        body["prompt_cache_key"] = session
        headers = self._headers(call, token, session)
        reply = await self.post(self.url(call), wire.encoded(), headers, token.proxy_url)
        if call.stream:
            return reply
        return AggregatedReply(
            reply, call.model, _Tools(call), self.provider.limits.max_response_bytes
        )

    def _headers(self, call: UpstreamCall, token: Token, session: str) -> dict[str, str]:
        """Codex's headers in its order; Codex's own values when the client is Codex."""
        sent = {k.lower(): v for k, v in call.client_headers.items()}
        out = {"version": sent.get("version") or _version_of(sent) or self.profile.version}
        out.update((k, v) for k, v in sent.items() if k.startswith(("x-codex-", "x-openai-")))
        out.update((k, v) for k, v in self.profile.headers(session).items() if k != "version")
        out["x-client-request-id"] = sent.get("x-client-request-id") or session
        out["authorization"] = f"Bearer {token.access}"
        if token.account_id:
            out["chatgpt-account-id"] = token.account_id
        trailer = self.profile.trailer()
        if "originator" in sent:  # Codex itself: its own name and user agent
            trailer["originator"] = sent["originator"]
            trailer["user-agent"] = sent.get("user-agent") or trailer["user-agent"]
        return {**out, **trailer, **self.provider.headers}

    async def plan_usage(self, credential: Credential) -> dict[str, Any]:
        """``GET /backend-api/wham/usage`` for one credential; its quota is kept."""
        return await fetch_plan_usage(self, credential)

    def refine(self, error: UpstreamHTTPError) -> UpstreamHTTPError:
        """The backend says ``{"detail": ...}``; a usage limit is a 429 with its reset time."""
        try:
            body = orjson.loads(error.body)
        except orjson.JSONDecodeError:
            return error
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            error.message = f"{self.name}: upstream answered {error.status}: {body['detail'][:300]}"
        err = body.get("error") if isinstance(body, dict) else None
        if error.status == 429 and isinstance(err, dict) and error.retry_after is None:
            resets = err.get("resets_in_seconds")
            if isinstance(resets, int | float):
                error.retry_after = float(resets)
        return error
