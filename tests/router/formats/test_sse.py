"""The SSE parser: framing in arbitrary pieces, line ends, comments."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.formats import SSEParser

STREAM = (
    b'event: message_start\ndata: {"a":1}\n\n'
    b": ping\n\n"
    b"data: line1\ndata: line2\n\n"
    b"event: x\r\ndata: crlf\r\n\r\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    ("message_start", b'{"a":1}'),
    (None, b"line1\nline2"),
    ("x", b"crlf"),
    (None, b"[DONE]"),
]


def test_whole_stream() -> None:
    p = SSEParser()
    assert p.feed(STREAM) + p.finish() == EXPECTED


def _fed_in_pieces(stream: bytes, cuts: list[int]) -> list[tuple[str | None, bytes]]:
    p = SSEParser()
    out = []
    last = 0
    for cut in sorted(set(cuts)):
        out += p.feed(stream[last:cut])
        last = cut
    out += p.feed(stream[last:])
    return out + p.finish()


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    assert _fed_in_pieces(STREAM, cuts) == EXPECTED


def test_unterminated_last_event_is_flushed_at_finish() -> None:
    p = SSEParser()
    assert p.feed(b"data: tail") == []
    assert p.finish() == [(None, b"tail")]


LF_STREAM = (
    b'event: message_start\ndata: {"a":1}\n\n'
    b": ping\n\n"
    b"id: 7\ndata: line1\ndata:line2\n\n\n"
    b'event: content_block_delta\ndata: {"t":"x"}\n\n'
    b"data: [DONE]\n\n"
)
LF_EXPECTED = [
    ("message_start", b'{"a":1}'),
    (None, b"line1\nline2"),
    ("content_block_delta", b'{"t":"x"}'),
    (None, b"[DONE]"),
]


@given(st.lists(st.integers(min_value=1, max_value=len(LF_STREAM) - 1), max_size=12))
def test_fast_path_any_split_gives_the_same_events(cuts: list[int]) -> None:
    assert _fed_in_pieces(LF_STREAM, cuts) == LF_EXPECTED
