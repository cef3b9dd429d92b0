"""A stream that fails mid-way ends with the same error event on every path.

For each client format, the same failure is scripted on all four upstreams
of a real router: the client's own (passthrough: the upstream's own error
event is relayed, or the router writes one when the upstream breaks) and the
three others (translated: the error is read into a kind and written again).
The client must see one error event, with the same words, whichever upstream
served it, and (Chat) no ``[DONE]`` after it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.fakes import FailAfter, Reply, ResetAfter, read_events

from ._matrix import CLIENTS, KEY, UPSTREAMS, start_matrix

# Enough text that the first read (at most 256 KiB) cannot hold the failure:
# the client has its 200 and some text before the stream breaks.
BIG = " ".join(f"w{i:05d}" for i in range(60000))
MESSAGE = "the upstream failed here XYZ"


def _reply() -> Reply:
    return Reply(text=BIG, chunks=40)


FAILURES: dict[str, Callable[[], Any]] = {
    "api-error": lambda: FailAfter(chunks=36, status=500, message=MESSAGE, reply=_reply()),
    "rate-limit": lambda: FailAfter(chunks=36, status=429, message=MESSAGE, reply=_reply()),
    "reset": lambda: ResetAfter(chunks=36, reply=_reply()),
}


@pytest.fixture
async def matrix(start_router):
    async with AsyncExitStack() as stack:
        yield await start_matrix(start_router, stack)


def _request(client: str, model: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(path, headers, body) of a streaming request in ``client``'s format."""
    user = [{"role": "user", "content": "hi"}]
    if client == "anthropic":
        headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
        body = {"model": model, "max_tokens": 1024, "stream": True, "messages": user}
        return "/v1/messages", headers, body
    if client == "gemini":
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        path = f"/v1beta/models/{model}:streamGenerateContent?alt=sse"
        return path, {"x-goog-api-key": KEY}, body
    auth = {"Authorization": f"Bearer {KEY}"}
    if client == "responses":
        return "/v1/responses", auth, {"model": model, "stream": True, "input": "hi"}
    return "/v1/chat/completions", auth, {"model": model, "stream": True, "messages": user}


def _error_frame(client: str, events: list[tuple[str | None, str]]) -> tuple[Any, ...]:
    """What the client reads from how its stream ended: the error event's words."""
    name, data = events[-1]
    if client == "anthropic":
        payload = json.loads(data)
        assert name == "error" and payload["type"] == "error", events[-1]
        assert MESSAGE in payload["error"]["message"] or "upstream" in payload["error"]["message"]
        return ("error", payload["error"]["type"])
    if client == "gemini":
        error = json.loads(data)["error"]
        return ("error", error["status"], error["code"])
    if client == "responses":
        payload = json.loads(data)
        assert name == payload["type"] == "response.failed", events[-1]
        created = next(json.loads(d) for n, d in events if n == "response.created")
        assert payload["response"]["id"] == created["response"]["id"]
        return (name, payload["response"]["status"], payload["response"]["error"]["code"])
    # Chat: the error chunk is the last event; nothing ([DONE] included) follows it.
    payload = json.loads(data) if data != "[DONE]" else {"after": "[DONE]"}
    assert "error" in payload, f"the stream ended with {data[:80]!r}, not its error"
    return ("error", payload["error"]["type"], payload["error"]["code"])


def _is_error(name: str | None, data: str) -> bool:
    if name in ("error", "response.failed"):
        return True
    payload = json.loads(data) if data.startswith("{") else {}
    return payload.get("error") is not None


async def _failed_stream(url: str, client: str, upstream: str) -> tuple[Any, ...]:
    path, headers, body = _request(client, f"via-{upstream}")
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:
        resp = await http.post(path, json=body, headers=headers)
    assert resp.status_code == 200, resp.text[:300]
    events = read_events(resp.text)
    assert len(events) > 3, "the failure must come after some of the answer"
    errors = [e for e in events if _is_error(*e)]
    assert errors == [events[-1]], "exactly one error event, and it ends the stream"
    return _error_frame(client, events)


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("client", CLIENTS)
async def test_a_stream_failing_midway_ends_alike_on_every_path(
    matrix, client: str, failure: str
) -> None:
    frames: dict[str, tuple[Any, ...]] = {}
    for upstream in UPSTREAMS:
        matrix.fake(upstream).enqueue(FAILURES[failure]())
        frames[upstream] = await _failed_stream(matrix.url, client, upstream)
    passthrough = frames[client]
    translated = {u: f for u, f in frames.items() if u != client}
    assert translated == dict.fromkeys(translated, passthrough), (passthrough, translated)
