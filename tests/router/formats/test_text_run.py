"""``StreamTranslator``'s shortcut for runs of text events gives the bytes the event
layers give (SSE parser, the upstream's decoder, the client's encoder), for every
read, including reads that only look like text events of the learnt shape."""

from __future__ import annotations

import random
import time

import pytest

from router.formats import CODECS, Context, Format, SSEParser, StreamTranslator, ir

SOURCES = (Format.OPENAI, Format.ANTHROPIC)  # the decoders that learn a text shape
CLIENTS = (Format.ANTHROPIC, Format.OPENAI, Format.GEMINI, Format.RESPONSES)
PAIRS = [(s, c) for s in SOURCES for c in CLIENTS if s != c]
IDS = [f"{s}-to-{c}" for s, c in PAIRS]


@pytest.fixture(autouse=True)
def _one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chat and Responses frames carry the second they were made: the same for both."""
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)


def _chat_text(text: bytes) -> bytes:
    return (
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up",'
        b'"choices":[{"index":0,"delta":{"content":' + text + b'},"logprobs":null,'
        b'"finish_reason":null}]}\n\n'
    )


def _anthropic_text(text: bytes) -> bytes:
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":' + text + b"}}\n\n"
    )


def _text(source: Format, text: bytes) -> bytes:
    return _chat_text(text) if source is Format.OPENAI else _anthropic_text(text)


def _opening(source: Format) -> list[bytes]:
    if source is Format.OPENAI:
        return [
            b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up",'
            b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
            b'"logprobs":null,"finish_reason":null}]}\n\n'
        ]
    return [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m1",'
        b'"type":"message","role":"assistant","model":"up","content":[],'
        b'"usage":{"input_tokens":3,"output_tokens":1}}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n',
    ]


def _closing(source: Format) -> list[bytes]:
    if source is Format.OPENAI:
        return [
            b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up",'
            b'"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n',
            b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up",'
            b'"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":9}}\n\n',
            b"data: [DONE]\n\n",
        ]
    return [
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
        b'"end_turn"},"usage":{"output_tokens":9}}\n\n',
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]


def _stream(source: Format, texts: list[bytes]) -> list[bytes]:
    return [*_opening(source), *(_text(source, t) for t in texts), *_closing(source)]


def _layers(source: Format, client: Format, data: bytes) -> tuple[bytes, ir.Usage, bool]:
    """What the event layers make of the whole stream, one event at a time."""
    parser = SSEParser()
    decoder = CODECS[source].stream_decoder()
    encoder = CODECS[client].stream_encoder(Context("client-model", "req1", ()))
    usage, failed, out = ir.Usage(), False, []
    events = [*parser.feed(data), *parser.finish()]
    irs = [ev for name, payload in events for ev in decoder.feed(name, payload)]
    for ev in [*irs, *decoder.finish()]:
        if isinstance(ev, ir.StreamError):
            failed = True
            out.append(encoder.error(ev.message, ev.kind))
            continue
        if isinstance(ev, ir.UsageEvent):
            usage = ev.usage
        out.append(encoder.encode(ev))
    return b"".join(out), usage, failed


def _translated(source: Format, client: Format, reads: list[bytes]) -> tuple[bytes, ir.Usage, bool]:
    tr = StreamTranslator(source, client, "client-model", "req1")
    out = b"".join(tr.feed(read) for read in reads) + tr.finish()
    return out, tr.usage, tr.failure is not None


def _reads(pieces: list[bytes], seed: int) -> list[bytes]:
    """The pieces regrouped: several whole events in a read, some cut anywhere."""
    rng = random.Random(seed)
    data = b"".join(pieces)
    if seed % 2:  # whole events only, one to four a read
        reads, i = [], 0
        while i < len(pieces):
            n = rng.randint(1, 4)
            reads.append(b"".join(pieces[i : i + n]))
            i += n
        return reads
    cuts = sorted(rng.sample(range(1, len(data)), min(8, len(data) - 1)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


TEXTS = [
    b'"Hello"',
    b'" world"',
    b'"line\\nnext \\"quoted\\" \\u00e9 \\ud83d\\ude00"',
    '"«unicode» 日本"'.encode(),
    b'"/slash\\/ \\t tab"',
    b'"x"',
]


def _check(source: Format, client: Format, pieces: list[bytes]) -> None:
    want = _layers(source, client, b"".join(pieces))
    assert _translated(source, client, pieces) == want, "one event a read"
    assert _translated(source, client, [b"".join(pieces)]) == want, "all in one read"
    for seed in range(12):
        assert _translated(source, client, _reads(pieces, seed)) == want, seed


@pytest.mark.parametrize(("source", "client"), PAIRS, ids=IDS)
def test_text_runs_read_as_the_layers_read_them(source: Format, client: Format) -> None:
    _check(source, client, _stream(source, TEXTS * 5))


# Reads that start and end like a text event of the learnt shape and are not one.
HOSTILE = [
    b'\n"raw line end before the string"',  # JSON allows the whitespace; SSE splits the line
    b' "a space before"',
    b'"a" "b"',
    b'"no end',
    b'""',  # empty: no text event
    b"123",
    b"null",
    b'"\xff invalid utf-8"',
    b'"raw \x01 control"',
]


@pytest.mark.parametrize(("source", "client"), PAIRS, ids=IDS)
@pytest.mark.parametrize("odd", HOSTILE, ids=range(len(HOSTILE)))
def test_a_read_that_only_looks_like_a_text_event_goes_the_usual_way(
    source: Format, client: Format, odd: bytes
) -> None:
    _check(source, client, _stream(source, [*TEXTS, odd, *TEXTS]))


@pytest.mark.parametrize(("source", "client"), PAIRS, ids=IDS)
def test_two_events_in_one_read_that_join_into_one_string(source: Format, client: Format) -> None:
    # The first event's suffix and the second's prefix sit between two quotes.
    first, second = _text(source, b'"a'), _text(source, b'b"')
    pieces = [*_opening(source), *(_text(source, t) for t in TEXTS), first + second]
    _check(source, client, [*pieces, *_closing(source)])


def test_no_text_after_the_clients_error_frame() -> None:
    tr = StreamTranslator(Format.OPENAI, Format.ANTHROPIC, "m", "r")
    for piece in _stream(Format.OPENAI, TEXTS)[:-3]:
        tr.feed(piece)
    tr.error(ir.StreamError("gone").kind, "gone")
    assert tr.feed(_chat_text(b'"late"')) == b""


@pytest.mark.parametrize("client", [Format.OPENAI, Format.GEMINI, Format.RESPONSES])
def test_text_after_its_block_closed_reads_as_the_layers_read_it(client: Format) -> None:
    stop = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    late = _anthropic_text(b'"late"')
    pieces = _stream(Format.ANTHROPIC, TEXTS)
    _check(Format.ANTHROPIC, client, [*pieces[:-3], stop, late, late + late, *pieces[-2:]])


def _chat_text_two_lines(text: bytes) -> bytes:
    """A text chunk whose JSON spans two ``data:`` lines (the parser joins them)."""
    return _chat_text(text).replace(b'"model":"up",', b'"model":"up",\ndata: ', 1)


@pytest.mark.parametrize("client", [Format.ANTHROPIC, Format.GEMINI])
def test_a_shape_learnt_from_several_data_lines_is_never_read_from_raw_bytes(
    client: Format,
) -> None:
    texts = [_chat_text_two_lines(t) for t in TEXTS]
    pieces = [*_opening(Format.OPENAI), *texts, b'"bare string"', b"\n\n", *texts]
    _check(Format.OPENAI, client, [*pieces, *_closing(Format.OPENAI)])


# Tool calls: the pieces of a call's arguments repeat one event the same way.


def _chat_chunk(delta: bytes, finish: bytes = b"null") -> bytes:
    return (
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up",'
        b'"choices":[{"index":0,"delta":' + delta + b',"logprobs":null,'
        b'"finish_reason":' + finish + b"}]}\n\n"
    )


def _chat_call(wire: int, args: bytes) -> bytes:
    return _chat_chunk(
        b'{"tool_calls":[{"index":'
        + str(wire).encode()
        + b',"function":{"arguments":'
        + args
        + b"}}]}"
    )


def _chat_tool_stream(args: list[bytes]) -> list[bytes]:
    start = (
        b'{"tool_calls":[{"index":%d,"id":"call_%d","type":"function",'
        b'"function":{"name":"write","arguments":""}}]}'
    )
    return [
        *_opening(Format.OPENAI),
        *(_chat_text(t) for t in TEXTS[:3]),
        _chat_chunk(start % (0, 0)),
        *(_chat_call(0, a) for a in args),
        _chat_chunk(start % (1, 1)),
        *(_chat_call(1, a) for a in args),
        *(_chat_call(0, a) for a in args[:3]),  # the first call again, its block closed
        *(_chat_call(1, a) for a in args),
        _chat_chunk(b"{}", b'"tool_calls"'),
        *_closing(Format.OPENAI)[1:],
    ]


def _anthropic_event(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


def _anthropic_args(index: int, args: bytes) -> bytes:
    return _anthropic_event(
        b"content_block_delta",
        b'{"type":"content_block_delta","index":'
        + str(index).encode()
        + b',"delta":{"type":"input_json_delta","partial_json":'
        + args
        + b"}}",
    )


def _anthropic_tool_stream(args: list[bytes]) -> list[bytes]:
    def start(index: int) -> bytes:
        return _anthropic_event(
            b"content_block_start",
            b'{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use",'
            b'"id":"toolu_%d","name":"write","input":{}}}' % (index, index),
        )

    def stop(index: int) -> bytes:
        return _anthropic_event(
            b"content_block_stop", b'{"type":"content_block_stop","index":%d}' % index
        )

    return [
        *_stream(Format.ANTHROPIC, TEXTS[:3])[:-3],
        stop(0),
        start(1),
        *(_anthropic_args(1, a) for a in args),
        stop(1),
        *(_anthropic_args(1, a) for a in args[:3]),  # after its block closed
        start(2),
        *(_anthropic_args(2, a) for a in args),
        stop(2),
        _anthropic_event(
            b"message_delta",
            b'{"type":"message_delta","delta":{"stop_reason":"tool_use"},'
            b'"usage":{"output_tokens":9}}',
        ),
        _anthropic_event(b"message_stop", b'{"type":"message_stop"}'),
    ]


ARGS = [b'"{\\"path\\": "', b'"\\"a.txt\\", "', b'"\\"text\\": \\"line\\\\n"', b'"more"', b'"\\"}"']


def _tool_stream(source: Format, args: list[bytes]) -> list[bytes]:
    return _chat_tool_stream(args) if source is Format.OPENAI else _anthropic_tool_stream(args)


@pytest.mark.parametrize(("source", "client"), PAIRS, ids=IDS)
def test_argument_runs_read_as_the_layers_read_them(source: Format, client: Format) -> None:
    _check(source, client, _tool_stream(source, ARGS * 4))


@pytest.mark.parametrize(("source", "client"), PAIRS, ids=IDS)
@pytest.mark.parametrize("odd", HOSTILE, ids=range(len(HOSTILE)))
def test_a_read_that_only_looks_like_an_arguments_event_goes_the_usual_way(
    source: Format, client: Format, odd: bytes
) -> None:
    _check(source, client, _tool_stream(source, [*ARGS, odd, *ARGS]))


@pytest.mark.parametrize("client", [Format.ANTHROPIC, Format.GEMINI, Format.RESPONSES])
def test_text_after_a_call_read_in_one_chunk_opens_its_own_block(client: Format) -> None:
    # No arguments piece teaches a new shape between the two runs of text.
    call = _chat_chunk(
        b'{"tool_calls":[{"index":0,"id":"call_0","type":"function",'
        b'"function":{"name":"write","arguments":"{}"}}]}'
    )
    texts = [_chat_text(t) for t in TEXTS]
    pieces = [*_opening(Format.OPENAI), *texts, call, *texts, *_closing(Format.OPENAI)]
    _check(Format.OPENAI, client, pieces)
