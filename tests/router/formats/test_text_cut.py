"""Text events of a repeated shape are read from their text alone (``TextCut``), and a
stream decodes to exactly the events the full reading gives, whatever comes between
them: other blocks, other shapes, escapes, texts that appear elsewhere in the event."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from router.errors import ErrorKind
from router.formats import CODECS, SSEParser, _stream_base, ir


def _chat(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"


def _text(t: str) -> bytes:
    return _chat({"content": t})


CALL = _chat(
    {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]}
)
CHAT_STREAMS = {
    "plain": [_chat({"role": "assistant", "content": ""}), *map(_text, ["a", "b", "c", "d"])],
    "text, a call, text again": [_text("a"), _text("b"), CALL, _text("c"), _text("d")],
    "escapes written otherwise": [
        _text("plain"),
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
        b'"choices":[{"index":0,"delta":{"content":"\\u00e9t\\u00e9"},"logprobs":null,'
        b'"finish_reason":null}]}\n\n',
        _text("été"),
        _text("x"),
    ],
    "the text is the model's name": [
        _text("gpt-4o"),
        _text("gpt-4o"),
        _chat({"content": "gpt-4o"}, model="gpt-4o-mini"),
        _text("x"),
    ],
    "a string that is not one": [
        _text("a"),
        _text("b"),
        # the same head and tail around two strings: not one JSON string
        _text('a"},"logprobs":null,"finish_reason":null},{"index":0,"delta":{"content":"b'),
        _text("c"),
    ],
    "empty and odd texts": [
        _text("a"),
        _text(""),
        _text("b"),
        _chat({"content": 12345}),
        _chat({"content": [1, 2]}),
        _chat({"content": None}),
        _text("c"),
    ],
    "reasoning between": [
        _text("a"),
        _chat({"reasoning_content": "hmm"}),
        _text("b"),
        _text("c"),
    ],
    "shape changes every event": [
        _chat({"content": w}, obfuscation=f"pad{i}") for i, w in enumerate("abcdefghijklmnop")
    ],
    "ends": [_text("a"), _text("b"), _chat({}, "stop"), _text("late"), b"data: [DONE]\n\n"],
}


def _anthropic(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


def _adelta(index: int, text: str, event: str = "content_block_delta") -> bytes:
    delta = {"type": "text_delta", "text": text}
    return _anthropic(event, {"type": "content_block_delta", "index": index, "delta": delta})


def _untyped(index: int, text: str, event: str) -> bytes:
    payload = {"index": index, "delta": {"type": "text_delta", "text": text}}
    return _anthropic(event, payload)


ANTHROPIC_STREAMS = {
    "two blocks": [
        _anthropic(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        *(_adelta(0, t) for t in "abc"),
        _anthropic("content_block_stop", {"type": "content_block_stop", "index": 0}),
        *(_adelta(1, t) for t in "de"),
    ],
    # without "type" the SSE event name says what the event is
    "the event name decides": [
        _untyped(0, "a", "content_block_delta"),
        _untyped(0, "b", "content_block_delta"),
        _untyped(0, "c", "message_delta"),
        _untyped(0, "d", "content_block_delta"),
    ],
    "an empty text": [_adelta(0, "a"), _adelta(0, ""), _adelta(0, "b")],
}


def _decode(fmt: str, events: list[bytes], *, cut: bool) -> list[ir.Event]:
    decoder: Any = CODECS[fmt].stream_decoder()
    if not cut:
        decoder._cut = None  # the full reading of every event
    parser = SSEParser()
    out: list[ir.Event] = []
    for raw in events:
        for name, data in parser.feed(raw):
            out += decoder.feed(name, data)
    return out + decoder.finish()


@pytest.mark.parametrize("name", CHAT_STREAMS)
def test_chat_text_events_decode_as_read_in_full(name: str) -> None:
    events = CHAT_STREAMS[name]
    assert _decode("openai", events, cut=True) == _decode("openai", events, cut=False)


@pytest.mark.parametrize("name", ANTHROPIC_STREAMS)
def test_anthropic_text_events_decode_as_read_in_full(name: str) -> None:
    events = ANTHROPIC_STREAMS[name]
    assert _decode("anthropic", events, cut=True) == _decode("anthropic", events, cut=False)


def test_the_repeated_shape_is_read_from_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """That the short way is taken at all: after two events of one shape, the third is
    parsed as its text alone."""
    parsed: list[bytes] = []

    def loads(data: bytes) -> Any:
        parsed.append(bytes(data))
        return orjson.loads(data)

    spy = SimpleNamespace(loads=loads, dumps=orjson.dumps, JSONDecodeError=orjson.JSONDecodeError)
    monkeypatch.setattr(_stream_base, "orjson", spy)
    assert _decode("openai", [_text("a"), _text("b"), _text("zz")], cut=True)[-2:] == [
        ir.TextDelta(0, "zz"),
        ir.StreamError("upstream stream ended before [DONE]", ErrorKind.API_ERROR),
    ]
    assert parsed[-1] == b'"zz"'
