"""Executor replies pass streams on in whole lines, and refuse a line past its limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.errors import UpstreamReplyTooLarge
from router.executors._base import WholeLines

STREAM = (
    b'event: message_start\ndata: {"a":1}\n\n'
    b"data: crlf\r\n\r\n"
    b"data: lone cr\r\r"
    b"data: " + b"z" * 500 + b"\n\n"
    b"tail without end"
)


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=30))
def test_any_split_comes_out_whole_and_unchanged(cuts: list[int]) -> None:
    lines = WholeLines(4096, "p")
    out = []
    last = 0
    for cut in [*sorted(set(cuts)), len(STREAM)]:
        piece = lines.feed(STREAM[last:cut])
        if piece:
            assert piece.endswith((b"\n", b"\r")), piece
            out.append(piece)
        last = cut
    out.append(lines.flush())
    assert b"".join(out) == STREAM


def test_a_piece_ending_a_line_passes_through_untouched() -> None:
    lines = WholeLines(4096, "p")
    piece = b"data: x\n\n"
    assert lines.feed(piece) is piece


def test_a_line_longer_than_the_limit_is_refused() -> None:
    lines = WholeLines(1000, "prov")
    assert lines.feed(b"data: " + b"x" * 500) == b""
    with pytest.raises(UpstreamReplyTooLarge, match="prov: .*longer than 1000 bytes"):
        lines.feed(b"x" * 600)
