"""The SSE parser's cost stays linear when a line goes on across many reads."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from router.formats import SSEParser

PIECE = b"x" * 65536


def test_an_endless_line_costs_linear_time() -> None:
    """16 MB of one open line in 64 KB reads: each read is kept, not copied onto the
    tail again (which took seconds: every read re-copied everything before it)."""
    parser = SSEParser()
    started = time.perf_counter()
    assert parser.feed(b"data: ") == []
    for _ in range(256):
        assert parser.feed(PIECE) == []
    events = parser.feed(b"\n\n")
    assert time.perf_counter() - started < 0.5
    assert events == [(None, PIECE * 256)]


def test_a_lone_cr_held_back_still_ends_its_line_at_once() -> None:
    """A read ending in ``\\r`` may be half of ``\\r\\n``; the next read decides, and the
    event it completes comes out then, not when some later line end arrives."""
    parser = SSEParser()
    assert parser.feed(b"data: a\r\r") == []
    assert parser.feed(b"data: b") == [(None, b"a")]
    assert parser.feed(b"c") == []
    assert parser.feed(b"\n\n") == [(None, b"bc")]


STREAM = (
    b"event: e\r\ndata: " + b"y" * 300 + b"\r\n\r\ndata: two\rdata: lines\r\r: ping\n\ndata: z\n\n"
)
EXPECTED = [("e", b"y" * 300), (None, b"two\nlines"), (None, b"z")]


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=40))
def test_many_small_reads_give_the_same_events(cuts: list[int]) -> None:
    parser = SSEParser()
    out = []
    last = 0
    for cut in sorted(set(cuts)):
        out += parser.feed(STREAM[last:cut])
        last = cut
    out += parser.feed(STREAM[last:])
    assert out + parser.finish() == EXPECTED
