"""Hypothesis: random answers survive encode -> SSE -> decode in every format.

Generated per format as the format can stream them: Chat and Gemini merge
adjacent blocks of one kind, so those are not generated; a reasoning block
with neither text nor signature is nothing on the wire; a ``source`` travels
only with a signature; usage fields a format lacks are zero.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from router.formats import ir
from router.formats._responses_items import unpack_reasoning

from ._strategies import SETTINGS, args, names, signatures, signed, texts
from ._support import decode, encode

STOPS = {
    "anthropic": [ir.StopReason.END_TURN, ir.StopReason.MAX_TOKENS, ir.StopReason.CONTENT_FILTER],
    "openai": [ir.StopReason.END_TURN, ir.StopReason.MAX_TOKENS, ir.StopReason.CONTENT_FILTER],
    "gemini": [
        ir.StopReason.END_TURN,
        ir.StopReason.MAX_TOKENS,
        ir.StopReason.CONTENT_FILTER,
        ir.StopReason.ERROR,
    ],
    "responses": [ir.StopReason.END_TURN, ir.StopReason.MAX_TOKENS, ir.StopReason.CONTENT_FILTER],
}


@st.composite
def stream_responses(draw: st.DrawFn, fmt: str) -> ir.Response:
    """Answers as each format can stream them (see the module docstring)."""
    n_calls = draw(st.integers(0, 3))
    ids = [f"call_{i}" for i in range(n_calls)]
    calls = [ir.ToolCall(i, draw(names), draw(args)) for i in ids]
    parts: list[ir.Part] = []
    if fmt == "anthropic":
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["text", "thinking", "redacted"]))
            if kind == "text":
                parts.append(ir.Text(draw(texts)))
            elif kind == "thinking":
                parts.append(
                    ir.Reasoning(draw(texts), draw(st.none() | signatures()), False, "anthropic")
                )
            else:
                parts.append(ir.Reasoning("", draw(signatures()), True, "anthropic"))
        parts += calls
    elif fmt == "openai":
        if draw(st.booleans()):
            parts.append(ir.Reasoning(draw(texts), None, False, None))
        if draw(st.booleans()):
            parts.append(ir.Text(draw(texts)))
        parts += signed(draw, calls, "openai")
    elif fmt == "gemini":
        if draw(st.booleans()):
            parts.append(
                ir.Reasoning(
                    draw(texts), draw(st.none() | signatures()), False, "gemini" if parts else None
                )
            )
        if draw(st.booleans()):
            parts.append(ir.Text(draw(texts)))
        parts += signed(draw, calls, "gemini")
    else:
        for _ in range(draw(st.integers(0, 3))):
            if draw(st.booleans()):
                parts.append(ir.Text(draw(texts)))
            else:
                sig = draw(st.none() | signatures(True))
                text = draw(st.text(max_size=8) if sig else texts)  # empty and unsigned is nothing
                parts.append(ir.Reasoning(text, sig, False, "responses"))
        parts += calls
    stop = ir.StopReason.TOOL_USE if calls else draw(st.sampled_from(STOPS[fmt]))
    n = st.integers(0, 500)
    inp, out, cached, reasoning, created = (draw(n) for _ in range(5))
    usage = {
        "anthropic": ir.Usage(inp + cached + created, out, cached, 0, created),
        "openai": ir.Usage(inp + cached, out + reasoning, cached, reasoning),
        "gemini": ir.Usage(inp + cached, out + reasoning, cached, reasoning),
        "responses": ir.Usage(inp + cached + created, out + reasoning, cached, reasoning, created),
    }[fmt]
    return ir.Response("id", "m", tuple(parts), stop, usage)


def events_of(resp: ir.Response, cuts: list[int]) -> list[ir.Event]:
    out: list[ir.Event] = [ir.StreamStart(resp.id, resp.model)]

    def pieces(text: str) -> list[str]:
        marks = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
        return [text[a:b] for a, b in zip(marks, marks[1:], strict=False) if text[a:b]]

    for i, part in enumerate(resp.content):
        if isinstance(part, ir.Text):
            out += [ir.TextDelta(i, t) for t in pieces(part.text)]
        elif isinstance(part, ir.Reasoning):
            out += [ir.ReasoningDelta(i, t) for t in pieces(part.text)]
            if part.signature:
                out.append(ir.ReasoningSignature(i, part.signature, part.redacted, part.source))
        elif isinstance(part, ir.ToolCall):
            out.append(ir.ToolCallStart(i, part.id, part.name))
            out += [ir.ToolCallDelta(i, t) for t in pieces(part.arguments)]
        out.append(ir.BlockEnd(i))
    return out + [ir.UsageEvent(resp.usage), ir.Stop(resp.stop_reason)]


def _stream_roundtrip(fmt: str, resp: ir.Response, cuts: list[int], chunk: int) -> None:
    data = encode(fmt, events_of(resp, cuts))
    back = ir.aggregate(decode(fmt, data, chunk=chunk))
    want = tuple(  # a source only travels with a signature
        dataclasses.replace(p, source=fmt if p.signature else None)
        if isinstance(p, ir.Reasoning)
        else p
        for p in resp.content
    )
    got = back.content
    if fmt == "responses":  # the item id the encoder gave travels packed in the signature
        got = tuple(
            dataclasses.replace(p, signature=unpack_reasoning(p.signature)[1])
            if isinstance(p, ir.Reasoning) and p.signature
            else p
            for p in got
        )
    assert got == want
    assert back.stop_reason is resp.stop_reason
    assert back.usage == resp.usage


@SETTINGS
@given(stream_responses("anthropic"), st.lists(st.integers(0, 50), max_size=3), st.integers(1, 200))
def test_anthropic_streams_round_trip(resp: ir.Response, cuts: list[int], chunk: int) -> None:
    _stream_roundtrip("anthropic", resp, cuts, chunk)


@SETTINGS
@given(stream_responses("openai"), st.lists(st.integers(0, 50), max_size=3), st.integers(1, 200))
def test_openai_chat_streams_round_trip(resp: ir.Response, cuts: list[int], chunk: int) -> None:
    _stream_roundtrip("openai", resp, cuts, chunk)


@SETTINGS
@given(stream_responses("gemini"), st.lists(st.integers(0, 50), max_size=3), st.integers(1, 200))
def test_gemini_streams_round_trip(resp: ir.Response, cuts: list[int], chunk: int) -> None:
    _stream_roundtrip("gemini", resp, cuts, chunk)


@SETTINGS
@given(stream_responses("responses"), st.lists(st.integers(0, 50), max_size=3), st.integers(1, 200))
def test_responses_streams_round_trip(resp: ir.Response, cuts: list[int], chunk: int) -> None:
    _stream_roundtrip("responses", resp, cuts, chunk)
