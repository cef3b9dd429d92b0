"""A scripted relay client: speaks only the frames it is told to (CLIProxyAPI's, by default).

client = await RelayTestClient.connect(url, token="t")          # no hello
client.on_request = answer_with_text("hi")                       # how to answer
...
client.received   # every frame the router sent, in order
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from suite.tasks import spawn

Handler = Callable[["RelayTestClient", dict[str, Any]], Awaitable[None]]


def sse(text: str, finish: bool = False) -> str:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        cand["finishReason"] = "STOP"
    body: dict[str, Any] = {"candidates": [cand]}
    if finish:
        body["usageMetadata"] = {
            "promptTokenCount": 3,
            "candidatesTokenCount": 2,
            "totalTokenCount": 5,
        }
    return f"data: {json.dumps(body)}\r\n\r\n"


def answer_with_text(*pieces: str, delay: float = 0.0) -> Handler:
    """Stream ``pieces`` as Gemini SSE (or one JSON body for a non-stream URL)."""

    async def handle(client: RelayTestClient, frame: dict[str, Any]) -> None:
        rid = frame["id"]
        url = frame["payload"]["url"]
        if ":streamGenerateContent" not in url:
            body = {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": "".join(pieces)}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ]
            }
            await client.send(
                rid, "http_response", {"status": 200, "headers": {}, "body": json.dumps(body)}
            )
            return
        await client.send(
            rid, "stream_start", {"status": 200, "headers": {"Content-Type": ["text/event-stream"]}}
        )
        for i, piece in enumerate(pieces):
            if delay:
                await asyncio.sleep(delay)
            await client.send(
                rid, "stream_chunk", {"data": sse(piece, finish=i == len(pieces) - 1)}
            )
        await client.send(rid, "stream_end", {})

    return handle


@dataclass
class RelayTestClient:
    ws: aiohttp.ClientWebSocketResponse
    session: aiohttp.ClientSession
    on_request: Handler | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    requests: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    cancels: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        token: str = "",
        query_token: bool = False,
        hello: dict[str, Any] | None = None,
        autoping: bool = True,
        read: bool = True,
    ) -> RelayTestClient:
        session = aiohttp.ClientSession()
        headers = {}
        if token and not query_token:
            headers["Authorization"] = f"Bearer {token}"
        if token and query_token:
            url = f"{url}?auth_token={token}"
        try:
            ws = await session.ws_connect(url, headers=headers, autoping=autoping, heartbeat=None)
        except BaseException:
            await session.close()
            raise
        client = cls(ws, session)
        if hello is not None:
            await client.send("", "hello", hello)
        if read:
            client._reader = spawn(client._read(), name="relay-test-client")
        return client

    async def send(self, rid: str, kind: str, payload: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps({"id": rid, "type": kind, "payload": payload}))

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.received.append(frame)
            if frame["type"] == "http_request":
                self.requests.put_nowait(frame)
                if self.on_request is not None:
                    spawn(self.on_request(self, frame), name="relay-test-answer")
            elif frame["type"] == "cancel":
                self.cancels.put_nowait(frame["id"])

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
        await self.session.close()
