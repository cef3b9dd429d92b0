"""An upstream's answer re-rendered for a client of another format, without sockets:
``StreamTranslator`` (streams, in any cut), ``translate_response`` (whole answers) and
``translated_chunks``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import orjson
import pytest

from router.errors import ErrorKind
from router.formats import (
    CODECS,
    Context,
    Format,
    StreamTranslator,
    ir,
    translate_response,
    translated_chunks,
)

from ._support import FORMATS, decode, encode

PAIRS = [(s, c) for s in FORMATS for c in FORMATS if s != c]
IDS = [f"{s}-to-{c}" for s, c in PAIRS]

EVENTS: list[ir.Event] = [
    ir.StreamStart("up_1", "up-model"),
    ir.TextDelta(0, "Hello, "),
    ir.TextDelta(0, "«world»\n"),
    ir.BlockEnd(0),
    ir.ToolCallStart(1, "call_1", "run"),
    ir.ToolCallDelta(1, '{"cmd":'),
    ir.ToolCallDelta(1, '"ls -la"}'),
    ir.BlockEnd(1),
    ir.UsageEvent(ir.Usage(40, 9)),
    ir.Stop(ir.StopReason.TOOL_USE),
]


def _upstream(source: str) -> bytes:
    """What an upstream of ``source`` streams for EVENTS."""
    return encode(source, EVENTS, model="up-model")


def _translate(source: str, client: str, pieces: list[bytes]) -> tuple[StreamTranslator, bytes]:
    tr = StreamTranslator(Format(source), Format(client), "client-model", "req1")
    out = b"".join(tr.feed(p) for p in pieces) + tr.finish()
    return tr, out


def _seen(client: str, data: bytes) -> tuple[str, list[tuple[str, object]], ir.StopReason]:
    resp = ir.aggregate(decode(client, data))
    text = "".join(p.text for p in resp.content if isinstance(p, ir.Text))
    calls = [(p.name, json.loads(p.arguments)) for p in resp.content if isinstance(p, ir.ToolCall)]
    return text, calls, resp.stop_reason


@pytest.mark.parametrize(("source", "client"), PAIRS, ids=IDS)
def test_a_stream_reads_the_same_in_any_cut(source: str, client: str) -> None:
    upstream = _upstream(source)
    whole, out = _translate(source, client, [upstream])
    want = ("Hello, «world»\n", [("run", {"cmd": "ls -la"})], ir.StopReason.TOOL_USE)
    assert _seen(client, out) == want
    assert whole.usage == ir.Usage(40, 9) and whole.failure is None
    for size in (1, 7, 64):
        pieces = [upstream[i : i + size] for i in range(0, len(upstream), size)]
        cut, out = _translate(source, client, pieces)
        assert _seen(client, out) == want, size
        assert cut.usage == ir.Usage(40, 9) and cut.failure is None


@pytest.mark.parametrize(("source", "client"), PAIRS, ids=IDS)
def test_an_upstream_that_stops_early_ends_in_the_clients_error(source: str, client: str) -> None:
    upstream = _upstream(source)
    tr, out = _translate(source, client, [upstream[: len(upstream) // 2]])
    assert tr.failure is not None and tr.failure.kind is ErrorKind.API_ERROR
    with pytest.raises(ir.StreamFailed):
        ir.aggregate(decode(client, out))
    assert tr.feed(b"more") == b"" and tr.finish() == b""  # nothing after the end


def test_an_error_after_the_start_is_the_clients_error_event() -> None:
    tr = StreamTranslator(Format.OPENAI, Format.ANTHROPIC, "m", "r")
    head = tr.feed(_upstream("openai")[:300])
    assert head.startswith(b"event: message_start")
    tail = tr.error(ErrorKind.OVERLOADED, "busy")
    assert tail.startswith(b"event: error") and b"overloaded_error" in tail
    assert tr.failure == ir.StreamError("busy", ErrorKind.OVERLOADED)


@pytest.mark.parametrize("source", ["openai", "anthropic", "responses"])
def test_a_gemini_client_without_sse_gets_one_json_array(source: str) -> None:
    upstream = _upstream(source)
    tr = StreamTranslator(Format(source), Format.GEMINI, "m", "r", sse=False)
    out = b"".join(tr.feed(upstream[i : i + 5]) for i in range(0, len(upstream), 5))
    out += tr.finish()
    chunks = json.loads(out)
    assert isinstance(chunks, list) and len(chunks) >= 2
    assert "".join(
        p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"]
    ) == ("Hello, «world»\n")
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    # ... and one cut short still closes its array, with the error as its last element
    tr = StreamTranslator(Format(source), Format.GEMINI, "m", "r", sse=False)
    out = tr.feed(upstream[: len(upstream) // 2]) + tr.error(ErrorKind.TIMEOUT, "slow")
    chunks = json.loads(out)
    assert chunks[-1]["error"]["status"] == "DEADLINE_EXCEEDED"


# --------------------------------------------------------------------------- whole answers

TOOLS = (ir.Tool("agents__spawn", namespace="agents"),)
ANSWER = ir.Response(
    "up_1",
    "up-model",
    (ir.Text("Spawning."), ir.ToolCall("call_1", "agents__spawn", '{"who":"a"}')),
    ir.StopReason.TOOL_USE,
    ir.Usage(30, 4),
)


@pytest.mark.parametrize(("source", "client"), PAIRS, ids=IDS)
def test_a_whole_answer_is_rendered_for_the_client(source: str, client: str) -> None:
    data = orjson.dumps(CODECS[source].response_from_ir(ANSWER, Context("up-model")))
    out, usage = translate_response(data, Format(source), Format(client), Context("m", "r", TOOLS))
    assert usage == ir.Usage(30, 4)
    resp = CODECS[client].response_to_ir(orjson.loads(out))
    assert [p for p in resp.content if isinstance(p, ir.Text)] == [ir.Text("Spawning.")]
    assert resp.stop_reason is ir.StopReason.TOOL_USE
    if client == "responses":  # the request's tools restore the namespace
        call = next(i for i in orjson.loads(out)["output"] if i["type"] == "function_call")
        assert (call["namespace"], call["name"]) == ("agents", "spawn")


@pytest.mark.parametrize("data", [b"<html>busy</html>", b"[1, 2]", b'{"choices": 7}', b""])
def test_an_answer_that_cannot_be_read_is_a_translation_error(data: bytes) -> None:
    with pytest.raises(ir.TranslationError) as info:
        translate_response(data, Format.OPENAI, Format.ANTHROPIC, Context("m"))
    assert info.value.field


async def test_translated_chunks_skip_pieces_that_complete_nothing() -> None:
    upstream = _upstream("openai")
    cut = upstream.index(b"\n\n") + 5  # the first event, and a few bytes of the next

    async def pieces() -> AsyncIterator[bytes]:
        yield upstream[:3]  # completes no event: nothing to send
        yield upstream[3:cut]
        yield upstream[cut:]

    tr = StreamTranslator(Format.OPENAI, Format.ANTHROPIC, "m", "r")
    got = [chunk async for chunk in translated_chunks(pieces(), tr)]
    assert all(got) and len(got) == 2
    assert _seen("anthropic", b"".join(got))[2] is ir.StopReason.TOOL_USE
