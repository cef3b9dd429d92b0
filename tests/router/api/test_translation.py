"""Every client SDK through the router to every upstream format: answers, usage,
stop reasons and errors, streaming and not (the 4x4 matrix of issue 3).

Tool loops and reasoning live in ``test_translation_tools.py``, the captured
client requests in ``test_translation_fixtures.py``; the shared agents and the
router-plus-four-fakes set-up in ``_matrix.py``.
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack

import anthropic
import httpx
import openai
import pytest
from google.genai import errors as genai_errors

from tests.fakes import Fail, FailAfter, Reply, ResetAfter, ToolCall

from ._matrix import CLIENTS, KEY, STOPS, TOOL, UPSTREAMS, start_matrix

PAIRS = [(c, u) for c in CLIENTS for u in UPSTREAMS]
TRANSLATED = [(c, u) for c, u in PAIRS if c != u]
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
# Enough text that the stream reaches the client in several reads: the first
# read (at most 256 KiB) can then never hold the upstream's failure.
BIG = " ".join(f"w{i:05d}" for i in range(60000))


def ids(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{c}-to-{u}" for c, u in pairs]


@pytest.fixture
async def matrix(start_router):
    async with AsyncExitStack() as stack:
        yield await start_matrix(start_router, stack)


@STREAM
@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=ids(PAIRS))
async def test_text_usage_and_stop_reason(matrix, client: str, upstream: str, stream: bool) -> None:
    text = "Bonjour! The answer is forty-two, «naturellement»."
    matrix.fake(upstream).enqueue(
        Reply(text=text, usage=(31, 7)), Reply(text="cut short", usage=(5, 3), stop="max_tokens")
    )
    agent = matrix.agent(client, upstream)

    turn = await agent.ask(stream)
    assert turn.text == text
    assert turn.usage == (31, 7)
    assert turn.usage_reports == 1
    assert turn.stop == STOPS["end_turn"][client]

    turn = await agent.ask(stream)
    assert turn.text == "cut short"
    assert turn.usage == (5, 3)
    assert turn.usage_reports == 1
    assert turn.stop == STOPS["max_tokens"][client]


# -------------------------------------------------------------------- errors


async def _stream_failure(agent) -> str:
    """Stream one answer that must fail; the failure as the client saw it.

    The SDK raises: on an HTTP error status, or on the format's error event
    (Anthropic ``event: error``, a Chat chunk or Responses ``error`` event with an
    ``error`` object, a Gemini ``{"error": ...}`` chunk). A Responses stream may
    instead end with ``response.failed``, which the SDK hands over as an event.
    """
    try:
        turn = await agent.ask(True)
    except (anthropic.APIError, openai.APIError, genai_errors.APIError) as exc:
        return str(exc)
    assert agent.api == "responses", f"{agent.api} client saw no error: {turn}"
    assert turn.stop == "failed", turn.events
    assert "response.completed" not in turn.events
    return turn.error


@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=ids(PAIRS))
async def test_error_event_mid_stream(matrix, client: str, upstream: str) -> None:
    matrix.fake(upstream).enqueue(
        FailAfter(
            chunks=36,
            status=529,
            message="upstream overloaded XYZ",
            reply=Reply(text=BIG, chunks=40),
        )
    )
    seen = await _stream_failure(matrix.agent(client, upstream))
    assert "upstream overloaded XYZ" in seen


@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=ids(PAIRS))
async def test_connection_reset_mid_stream(matrix, client: str, upstream: str) -> None:
    matrix.fake(upstream).enqueue(ResetAfter(chunks=36, reply=Reply(text=BIG, chunks=40)))
    await _stream_failure(matrix.agent(client, upstream))


@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=ids(PAIRS))
async def test_error_event_in_the_first_read_keeps_its_message(
    matrix, client: str, upstream: str
) -> None:
    """The upstream's error arrives with its first events: nothing reached the
    client yet, so any answer will do, as long as it says what went wrong."""
    matrix.fake(upstream).enqueue(
        FailAfter(
            chunks=3, status=529, message="upstream overloaded XYZ", reply=Reply(text="a b c d e f")
        )
    )
    seen = await _stream_failure(matrix.agent(client, upstream))
    assert "upstream overloaded XYZ" in seen


def _status_error(exc: BaseException) -> tuple[int, str, str]:
    """(status, error type/status word, message) from any SDK's HTTP error."""
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body
        assert isinstance(body, dict) and body["type"] == "error", body
        return exc.status_code, body["error"]["type"], body["error"]["message"]
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        assert isinstance(body, dict), body
        return exc.status_code, str(body.get("type")), str(body.get("message"))
    assert isinstance(exc, genai_errors.APIError), exc
    return exc.code, str(exc.status), str(exc.message)


@STREAM
@pytest.mark.parametrize(("client", "upstream"), TRANSLATED, ids=ids(TRANSLATED))
async def test_upstream_400_in_the_client_format(
    matrix, client: str, upstream: str, stream: bool
) -> None:
    matrix.fake(upstream).enqueue(Fail(400, message="messages.0: the frobnicator is invalid"))
    with pytest.raises(
        (anthropic.APIStatusError, openai.APIStatusError, genai_errors.APIError)
    ) as err:
        await matrix.agent(client, upstream).ask(stream)
    status, kind, message = _status_error(err.value)
    assert status == 400
    assert "the frobnicator is invalid" in message
    expected = {
        "anthropic": "invalid_request_error",
        "chat": "invalid_request_error",
        "responses": "invalid_request_error",
        "gemini": "INVALID_ARGUMENT",
    }
    assert kind == expected[client]


# -------------------------------------------------------------------- Gemini without alt=sse


async def _json_array_stream(url: str, upstream: str) -> list:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "weather?"}]}],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": TOOL["name"], "parametersJsonSchema": TOOL["parameters"]}
                ]
            }
        ],
    }
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.post(
            f"{url}/v1beta/models/via-{upstream}:streamGenerateContent",
            json=body,
            headers={"x-goog-api-key": KEY},
        )
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    chunks = json.loads(resp.text)  # one valid JSON document, whatever happened upstream
    assert isinstance(chunks, list) and chunks
    return chunks


def _parts(chunks: list) -> list[dict]:
    return [
        p
        for c in chunks
        for cand in c.get("candidates", [])
        for p in cand.get("content", {}).get("parts", [])
    ]


@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_gemini_json_array_stream(matrix, upstream: str) -> None:
    matrix.fake(upstream).enqueue(
        Reply(text="x y z", usage=(9, 4)),
        Reply(
            text="checking",
            tool_calls=(ToolCall("call_1", "get_weather", {"city": "Paris"}),),
            usage=(8, 2),
        ),
    )
    chunks = await _json_array_stream(matrix.url, upstream)
    assert "".join(p.get("text", "") for p in _parts(chunks)) == "x y z"
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    usage = last["usageMetadata"]
    assert (usage["promptTokenCount"], usage["candidatesTokenCount"]) == (9, 4)

    chunks = await _json_array_stream(matrix.url, upstream)
    calls = [p["functionCall"] for p in _parts(chunks) if "functionCall" in p]
    assert [(c["name"], c["args"]) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("how", ["error-event", "reset"])
@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_gemini_json_array_stream_failing_midway(matrix, upstream: str, how: str) -> None:
    reply = Reply(text=BIG, chunks=40)
    failure = (
        FailAfter(chunks=36, status=503, message="upstream overloaded XYZ", reply=reply)
        if how == "error-event"
        else ResetAfter(chunks=36, reply=reply)
    )
    matrix.fake(upstream).enqueue(failure)
    chunks = await _json_array_stream(matrix.url, upstream)
    assert "error" in chunks[-1], chunks[-1]
    assert all("error" not in c for c in chunks[:-1])
    if how == "error-event":
        assert "upstream overloaded XYZ" in chunks[-1]["error"]["message"]
