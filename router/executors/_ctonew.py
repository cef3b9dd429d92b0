"""``ctonew``: cto.new's EngineLabs agent, served as OpenAI Chat Completions.

Per request, with the account's 60-second Clerk JWT: pick the adapter for the
model (``GET /chat/adapters``, cached), make it the team's preferred model,
create a hosted project (its id is the chat history), open the buffer
WebSocket *before* posting (frames sent earlier are not replayed), post the
offers prelude and the base64 prompt, then read the answer from the socket.

The executor's wire is OpenAI Chat: the socket's frames become IR events
(``_ctonew_wire``) rendered by the Chat stream encoder, so every client
format is served by the router's usual translation.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from router.auth import Token
from router.errors import (
    BadRequest,
    ErrorKind,
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamReplyTooLarge,
    UpstreamTimeout,
)
from router.formats import Format, ir, openai_chat
from suite.config import ProviderConfig
from suite.tasks import spawn

from ._base import UpstreamCall, UpstreamReply
from ._ctonew_wire import FrameReader, flatten_prompt, is_quota_error
from ._http import _http_error, _reason, read_capped
from ._signed import SignedInExecutor

__all__ = ["CtoNewExecutor", "CtoNewReply"]

_ADAPTERS_TTL = 600.0
_CLOSED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)
_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class CtoNewReply:
    """The answer as it arrives on the buffer socket."""

    status = 200

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        reader: FrameReader,
        stream: bool,
        first_byte: float,
        idle: float,
        input_tokens: int,
        limit: int = 64 * 1024 * 1024,
    ) -> None:
        self._ws = ws
        self._limit = limit  # what read() may fold into one answer (max_response_bytes)
        self._reader = reader
        self._first_byte = first_byte
        self._idle = idle
        self._input_tokens = input_tokens
        self.content_type = "text/event-stream" if stream else "application/json"

    async def _events(self) -> AsyncIterator[ir.Event]:
        reader, ws = self._reader, self._ws
        sent = False
        while not reader.done:
            try:
                async with asyncio.timeout(self._idle if sent else self._first_byte):
                    msg = await ws.receive()
            except TimeoutError:
                failure: Exception = UpstreamTimeout("cto.new went silent mid-answer")
                break
            if msg.type is aiohttp.WSMsgType.TEXT:
                if msg.data == "ping":
                    await ws.send_str("pong")
                    continue
                for ev in reader.feed(msg.data):
                    sent = True
                    yield ev
            elif msg.type in _CLOSED:
                failure = UpstreamConnectError("cto.new closed the stream before the answer ended")
                break
        else:
            if reader.error is None:
                usage = ir.Usage(self._input_tokens, max(1, reader.output_chars // 4))
                for ev in reader.finish(usage):
                    yield ev
                return
            kind, message = reader.error
            status = 429 if kind == "rate_limit" else 502
            failure = UpstreamHTTPError(status, f"cto.new: {message}")
        if not sent:
            raise failure
        yield ir.StreamError(str(failure), ErrorKind.API_ERROR)

    async def chunks(self) -> AsyncIterator[bytes]:
        encoder = openai_chat.StreamEncoder(self._reader.model, self._reader.rid)
        try:
            async for ev in self._events():
                frame = encoder.encode(ev)
                if frame:
                    yield frame
        finally:
            self.close()

    async def read(self) -> bytes:
        try:
            events = []
            async for ev in self._events():
                events.append(ev)
                if self._reader.output_chars > self._limit:
                    raise UpstreamReplyTooLarge(
                        f"cto.new: answer larger than {self._limit} bytes"
                        " (server.limits.max_response_bytes)"
                    )
        finally:
            self.close()
        try:
            resp = ir.aggregate(events)
        except ir.StreamFailed as exc:
            raise UpstreamConnectError(f"cto.new: {exc.message}") from None
        return orjson.dumps(openai_chat.response_from_ir(resp, self._reader.model))

    def close(self) -> None:
        if not self._ws.closed:
            spawn(self._ws.close(), name="ctonew-ws-close")


class CtoNewExecutor(SignedInExecutor):
    wire = Format.OPENAI

    def __init__(self, provider: ProviderConfig) -> None:
        super().__init__(provider)
        opts = provider.options
        self.ws_url = str(opts.get("ws_url") or re.sub(r"^http", "ws", self.base_url)).rstrip("/")
        self.origin = str(opts.get("origin") or "https://cto.new").rstrip("/")
        self._idle = provider.timeouts.idle
        self._adapters: dict[str, tuple[float, dict[str, str]]] = {}
        self._preferred: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def url(self, call: UpstreamCall) -> str:
        return f"{self.base_url}/engine-agent/chat"

    async def send_token(self, call: UpstreamCall, token: Token) -> UpstreamReply:
        if call.action != "generate":
            raise UpstreamHTTPError(404, f"{self.name}: cto.new cannot count tokens")
        prompt = flatten_prompt(_request_ir(call))
        account = token.user_id or "account"
        key = await self._model_key(token, call.model)
        lock = self._locks.setdefault(account, asyncio.Lock())
        async with lock:  # the preferred model is team state: one switch+submit at a time
            if self._preferred.get(account) != key:
                await self._api("PATCH", "/teams/preferred-model", token, {"modelKey": key})
                self._preferred[account] = key
            name = f"cliproxy-{secrets.token_hex(4)}"
            project = await self._api(
                "POST", "/projects/create-hosted", token, {"projectName": name}
            )
            chat_id = str(project.get("projectId") or "")
            if not chat_id:
                raise UpstreamConnectError(
                    f"{self.name}: create-hosted answered without a projectId"
                )
            ws = await self._open_ws(token, chat_id, str(project.get("workspaceId") or ""))
            try:
                await self._api(
                    "POST",
                    "/engine-agent/offers",
                    token,
                    {"chatHistoryId": chat_id, "surface": "ENGINE_AGENT"},
                )
                encoded = base64.b64encode(prompt.encode()).decode()
                await self._api(
                    "POST",
                    "/engine-agent/chat",
                    token,
                    {"prompt": encoded, "chatHistoryId": chat_id, "encoded": True},
                )
            except BaseException:
                await ws.close()
                raise
        reader = FrameReader(rid=secrets.token_hex(12), model=call.model)
        return CtoNewReply(
            ws,
            reader,
            call.stream,
            self._first_byte,
            self._idle,
            max(1, len(prompt.encode()) // 4),
            self.provider.limits.max_response_bytes,
        )

    async def _model_key(self, token: Token, model: str) -> str:
        account = token.user_id or "account"
        cached = self._adapters.get(account)
        if cached is None or time.monotonic() - cached[0] > _ADAPTERS_TTL:
            body = await self._api("GET", "/chat/adapters", token, None)
            names: dict[str, str] = {}
            for a in body.get("chatAdapters") or []:
                if not isinstance(a, dict) or not a.get("key") or a.get("enabled") is False:
                    continue
                for field in ("key", "model", "engineAgentKey"):
                    if isinstance(a.get(field), str):
                        names.setdefault(_norm(a[field]), str(a["key"]))
            cached = (time.monotonic(), names)
            self._adapters[account] = cached
        key = cached[1].get(_norm(model))
        if key is None:
            offered = ", ".join(sorted(set(cached[1].values()))) or "none"
            raise UpstreamHTTPError(
                404, f"{self.name}: cto.new offers no model {model!r} (offered: {offered})"
            )
        return key

    async def _api(self, method: str, path: str, token: Token, body: Any) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {token.access}",
            "Origin": self.origin,
            "Referer": f"{self.origin}/",
            "Accept": "application/json",
            "User-Agent": _UA,
            **self.provider.headers,
        }
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            async with asyncio.timeout(self._first_byte):
                resp = await self.session(token.proxy_url).request(
                    method, f"{self.base_url}{path}", data=data, headers=headers
                )
                if resp.status >= 400:
                    raise self.refine(await _http_error(self.name, resp))
                raw = await read_capped(resp, self.provider.limits.max_response_bytes, self.name)
        except aiohttp.ConnectionTimeoutError as exc:  # a TimeoutError too: caught first
            raise UpstreamTimeout(self._no_connection()) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{self.name}: no answer within {self._first_byte:g}s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectError(f"{self.name}: unreachable ({_reason(exc)})") from exc
        try:
            parsed = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            parsed = {}
        return parsed if isinstance(parsed, dict) else {}

    async def _open_ws(
        self, token: Token, chat_id: str, workspace: str
    ) -> aiohttp.ClientWebSocketResponse:
        query = urlencode({"token": f"{token.user_id}:{token.org_id}", "workspaceId": workspace})
        url = f"{self.ws_url}/engine-agent/chat-histories/{quote(chat_id, safe='')}/buffer/stream?{query}"
        headers = {"Origin": self.origin, "Cookie": f"__client={token.cookie}", "User-Agent": _UA}
        try:
            async with asyncio.timeout(self._first_byte):
                session = self.session(token.proxy_url)
                return await session.ws_connect(url, headers=headers, autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            err = UpstreamHTTPError(
                exc.status, f"{self.name}: the stream socket was refused ({exc.status})"
            )
            raise self.refine(err) from None
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"{self.name}: stream socket not open within {self._first_byte:g}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectError(
                f"{self.name}: stream socket failed ({_reason(exc)})"
            ) from exc

    def refine(self, error: UpstreamHTTPError) -> UpstreamHTTPError:
        """Quota words in any error mean: rest this account (429)."""
        text = error.body.decode("utf-8", "replace") + " " + error.message
        if error.status != 429 and is_quota_error(text):
            quota = UpstreamHTTPError(
                429, error.message, error.body, error.retry_after, error.content_type
            )
            return quota
        return error


def _request_ir(call: UpstreamCall) -> ir.Request:
    """The request in the canonical form: the router's own when it translated the client's
    (no second trip through Chat), else read from the body's data (a Chat client)."""
    if call.request is not None:
        return call.request
    try:
        req: ir.Request = openai_chat.request_to_ir(call.body.data)
    except ir.TranslationError as exc:
        raise BadRequest(f"{exc.field}: {exc.message}", param=exc.field) from None
    return req
