"""One codec shape: every format registered, the request's tools carried by the Context
alike for all, and a request body whose bytes are made once."""

from __future__ import annotations

import orjson
import pytest

from router.formats import CODECS, Context, Format, WireBody, ir

from ._support import FORMATS, decode

# A call of a namespaced tool and one of a free-form (custom) tool: what only the
# Responses shapes tell apart, from the request's tools.
TOOLS = (
    ir.Tool("agents__spawn", "spawn", {"type": "object"}, namespace="agents"),
    ir.Tool("apply_patch", "patch", kind="custom"),
)
ANSWER = ir.Response(
    "resp_1",
    "up-model",
    (
        ir.ToolCall("call_1", "agents__spawn", '{"who":"a"}'),
        ir.ToolCall("call_2", "apply_patch", '{"input":"*** Begin Patch"}'),
    ),
    ir.StopReason.TOOL_USE,
    ir.Usage(12, 3),
)


def test_every_format_has_one_codec_of_its_own() -> None:
    assert set(CODECS) == set(Format)
    for fmt, codec in CODECS.items():
        assert codec.format is fmt


def _responses_calls(output: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [
        (item["type"], item.get("namespace"), item["name"])
        for item in output
        if item["type"] in ("function_call", "custom_tool_call")
    ]


WANT = [("function_call", "agents", "spawn"), ("custom_tool_call", None, "apply_patch")]


def test_a_responses_client_gets_its_tool_shapes_back_from_the_context() -> None:
    codec = CODECS[Format.RESPONSES]
    body = codec.response_from_ir(ANSWER, Context("m", tools=TOOLS))
    assert _responses_calls(body["output"]) == WANT  # type: ignore[arg-type]
    bare = codec.response_from_ir(ANSWER, Context("m"))
    assert _responses_calls(bare["output"]) == [  # type: ignore[arg-type]
        ("function_call", None, "agents__spawn"),
        ("function_call", None, "apply_patch"),
    ]
    encoder = codec.stream_encoder(Context("m", "r1", TOOLS))
    stream = b"".join(encoder.encode(ev) for ev in ir.to_events(ANSWER))
    completed = [
        orjson.loads(line[6:])
        for line in stream.split(b"\n")
        if line.startswith(b"data: ") and b'"response.completed"' in line
    ]
    assert _responses_calls(completed[0]["response"]["output"]) == WANT


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_codec_takes_the_same_context(fmt: str) -> None:
    """The Context is the one signature: formats without tool shapes give the same
    answer with or without the tools, and the answer reads back the same."""
    codec = CODECS[fmt]
    with_tools = Context("client-model", "r1", TOOLS)
    body = codec.response_from_ir(ANSWER, with_tools)
    back = codec.response_to_ir(body)
    assert [p.arguments for p in back.content if isinstance(p, ir.ToolCall)] == [
        '{"who":"a"}',
        '{"input":"*** Begin Patch"}',
    ]
    assert back.usage.input_tokens == 12 and back.usage.output_tokens == 3
    encoder = codec.stream_encoder(with_tools)
    stream = b"".join(encoder.encode(ev) for ev in ir.to_events(ANSWER))
    assert ir.aggregate(decode(fmt, stream)).stop_reason is ir.StopReason.TOOL_USE
    if fmt != "responses":
        bare = codec.response_from_ir(ANSWER, Context("client-model"))
        for key in ("id", "responseId", "created"):  # made up per call
            body.pop(key, None)
            bare.pop(key, None)
        assert body == bare


def test_a_translated_request_is_serialized_once() -> None:
    req = ir.Request((ir.Message(ir.Role.USER, (ir.Text("hi"),)),))
    body = CODECS[Format.ANTHROPIC].request_from_ir(req, "claude", True)
    first = body.encoded()
    assert body.encoded() is first
    assert orjson.loads(first) == body.data
    assert body.data["model"] == "claude" and body.data["stream"] is True


def test_an_edit_gets_its_own_copy_and_new_bytes() -> None:
    shared: ir.JSONObject = {"model": "a", "messages": []}
    body = WireBody(shared)
    before = body.encoded()
    data = body.edit()
    data["model"] = "b"
    assert shared == {"model": "a", "messages": []}  # whoever built it still has its own
    after = body.encoded()
    assert orjson.loads(before)["model"] == "a" and orjson.loads(after)["model"] == "b"
    assert body.edit() is data  # one copy per body, however many edits


def test_bytes_given_are_the_bytes_sent() -> None:
    raw = b'{"model":"a",  "messages":[]}'  # the client's own spacing
    body = WireBody({"model": "a", "messages": []}, raw)
    assert body.encoded() is raw
    body.edit()["model"] = "b"
    assert orjson.loads(body.encoded()) == {"model": "b", "messages": []}
