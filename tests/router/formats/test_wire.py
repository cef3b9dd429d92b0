"""Error bodies, stream error events and the stream watcher, per format."""

from __future__ import annotations

import orjson
import pytest

from router.formats import Format, StreamWatcher, error_body, stream_error_event, usage_from_body


def test_error_bodies_have_each_formats_shape() -> None:
    assert orjson.loads(error_body(Format.OPENAI, 400, "invalid_request", "bad", "model")) == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "model", "code": None}
    }
    assert orjson.loads(error_body(Format.ANTHROPIC, 429, "rate_limit", "slow")) == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow"},
    }
    assert orjson.loads(error_body(Format.GEMINI, 404, "not_found", "nope")) == {
        "error": {"code": 404, "message": "nope", "status": "NOT_FOUND"}
    }


def test_stream_error_events() -> None:
    assert stream_error_event(Format.ANTHROPIC, "api_error", "cut").startswith(
        b"event: error\ndata: {"
    )
    assert stream_error_event(Format.OPENAI, "api_error", "cut").startswith(b'data: {"error":')
    assert stream_error_event(Format.GEMINI, "api_error", "cut").startswith(b'data: {"error":')
    assert stream_error_event(Format.GEMINI, "api_error", "cut", gemini_array=True).endswith(b"]")


@pytest.mark.parametrize(
    ("fmt", "chunks"),
    [
        (Format.OPENAI, [b'data: {"choices":[]}\n\ndata: [DO', b"NE]\n\n"]),
        (
            Format.ANTHROPIC,
            [
                b"event: message_delta\ndata: {}\n\nevent: message_st",
                b'op\ndata: {"type":"message_stop"}\n\n',
            ],
        ),
        (Format.GEMINI, [b'data: {"candidates":[{"finishReason":"STOP"}]}\r\n\r\n']),
    ],
)
def test_watcher_sees_terminators_split_across_reads(fmt: Format, chunks: list[bytes]) -> None:
    w = StreamWatcher(fmt)
    for c in chunks[:-1]:
        w.feed(c)
        assert not w.done
    w.feed(chunks[-1])
    assert w.done


def test_watcher_reads_usage() -> None:
    w = StreamWatcher(Format.ANTHROPIC)
    w.feed(
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":1,"cache_read_input_tokens":4}}}\n\n'
    )
    w.feed(b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":30}}\n\n')
    assert (w.usage.input, w.usage.output, w.usage.cached) == (12, 30, 4)
    o = StreamWatcher(Format.OPENAI)
    o.feed(b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}\n\n')
    assert (o.usage.input, o.usage.output) == (5, 7)


def test_usage_from_body() -> None:
    u = usage_from_body(
        Format.GEMINI, b'{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}'
    )
    assert (u.input, u.output) == (3, 4)
    assert usage_from_body(Format.OPENAI, b"not json").input == 0
