"""The SSE parser reads a chunk holding exactly one event (how upstreams write nearly
every event) the way it reads the same bytes in any other cut."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.formats import SSEParser

# Pieces of lines that look like one event and often are not quite one.
TOKENS = [b"data:", b"data: ", b"event:", b"event: ", b"id: 1", b": ping", b"x", b'{"a":1}']
ENDS = [b"\n", b"\r", b"\r\n", b"\n\n"]


def _bytewise(stream: bytes) -> list[tuple[str | None, bytes]]:
    p = SSEParser()
    out = []
    for i in range(len(stream)):
        out += p.feed(stream[i : i + 1])
    return out + p.finish()


def _whole(stream: bytes) -> list[tuple[str | None, bytes]]:
    p = SSEParser()
    return p.feed(stream) + p.finish()


@pytest.mark.parametrize(
    "chunk",
    [
        b'data: {"a":1}\n\n',
        b"data:x\n\n",
        b"data:\n\n",
        b"event: message_start\ndata: {}\n\n",
        b"event:  spaced \ndata:  two spaces\n\n",
        b"event: a\rb\ndata: y\n\n",  # a lone CR ends a line too
        b"data: a\rdata: b\n\n",
        b"event: x\r\ndata: y\n\n",
        b"event: only\n\n",
        b": ping\n\n",
        b"id: 7\ndata: z\n\n",
        b"data: 1\ndata: 2\n\n",
        b"event: e\ndata: 1\ndata: 2\n\n",
        b"\n\n",
    ],
)
def test_one_event_chunks(chunk: bytes) -> None:
    assert _whole(chunk) == _bytewise(chunk)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS + ENDS), max_size=8))
def test_any_small_chunk_reads_as_in_pieces(parts: list[bytes]) -> None:
    chunk = b"".join(parts) + b"\n\n"
    assert _whole(chunk) == _bytewise(chunk)
    # ... also after an event that came whole
    first = b"data: first\n\n"
    p = SSEParser()
    assert p.feed(first) + p.feed(chunk) + p.finish() == _bytewise(first + chunk)
