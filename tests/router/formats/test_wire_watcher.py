"""The stream watcher reads its reads in batches: what it answers must not depend on
how the upstream's bytes were cut into reads, nor on where a batch ends."""

from __future__ import annotations

import pytest

from router.formats import Format, StreamWatcher

_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
    b'{"input_tokens":12,"output_tokens":1,"cache_read_input_tokens":4}}}\n\n'
)
_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"x"}}\n\n'
)
_END = (
    b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":30}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def _stream(deltas: int) -> bytes:
    return _START + _DELTA * deltas + _END


def _cuts(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 7, 64, 100, 4095, 4096, 5000, 1 << 20])
def test_answers_do_not_depend_on_how_the_stream_was_read(size: int) -> None:
    """Long enough for several batches; every read size, including one byte at a time,
    cuts the usage lines and the end mark somewhere."""
    w = StreamWatcher(Format.ANTHROPIC)
    for piece in _cuts(_stream(200), size):
        w.feed(piece)
    assert w.done and not w.failed
    assert (w.usage.input, w.usage.output, w.usage.cached) == (12, 30, 4)


def test_a_usage_line_split_between_two_reads_is_read() -> None:
    """Before the batches each read was scanned alone and this usage was lost."""
    w = StreamWatcher(Format.ANTHROPIC)
    w.feed(_START[:60])
    w.feed(_START[60:])
    w.feed(_END)
    assert (w.usage.input, w.usage.output, w.usage.cached) == (12, 30, 4)


def test_an_end_mark_cut_at_a_batch_boundary_is_seen() -> None:
    """The mark's first half closes one batch (its reads pass 4 KB), the rest opens the next."""
    head = _START + _DELTA * 60 + b"event: message_delta\ndata: {}\n\nevent: message_st"
    assert len(head) > 4096
    w = StreamWatcher(Format.ANTHROPIC)
    w.feed(head)
    assert not w.done
    w.feed(b'op\ndata: {"type":"message_stop"}\n\n')
    assert w.done


def test_an_error_event_is_seen_whatever_the_reads() -> None:
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n'
    for size in (3, 50, 10_000):
        w = StreamWatcher(Format.ANTHROPIC)
        for piece in _cuts(_START + _DELTA * 80 + error, size):
            w.feed(piece)
        assert w.done and w.failed


def test_responses_id_and_sequence_follow_the_last_read() -> None:
    created = (
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
        b'"response":{"id":"resp_1"}}\n\n'
    )
    delta = b'event: response.output_text.delta\ndata: {"type":"x","sequence_number":%d}\n\n'
    w = StreamWatcher(Format.RESPONSES)
    w.feed(created)
    for n in range(1, 120):
        w.feed(delta % n)
    assert (w.response_id, w.sequence) == ("resp_1", 120)
    assert not w.done
    w.feed(delta % 120)  # read after an answer was asked for: still counted
    assert w.sequence == 121
