"""Anthropic Messages: requests, responses and both stream directions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message

from router.formats import anthropic, ir

from ._support import check_request, decode, encode, fixture_body, frames, sse, typed_event

U, A = ir.Role.USER, ir.Role.ASSISTANT


# --------------------------------------------------------------------------- requests


def test_claude_code_turn2_to_ir() -> None:
    req = anthropic.request_to_ir(fixture_body("claude-code-turn2"))
    assert [t.text[:30] for t in req.system] == [
        "You are a Claude agent, built ",
        "\nYou are an agent working with",
    ]  # the billing header line is not part of the prompt
    assert [m.role for m in req.messages] == [U, A, U]
    call = req.messages[1].content[0]
    result = req.messages[2].content[0]
    assert call == ir.ToolCall("toolu_01", "Bash", '{"command":"ls -1","description":"List files"}')
    assert isinstance(result, ir.ToolResult)
    assert (result.call_id, result.name, result.is_error) == ("toolu_01", "Bash", False)
    assert len(req.tools) == 12 and req.tools[1].name == "Bash"
    assert req.thinking == ir.Thinking(True, 31999, None, include_thoughts=False)
    assert req.max_tokens == 32000 and req.stream
    assert req.user is not None and "session_id" in req.user


def test_invalid_requests_name_the_field() -> None:
    with pytest.raises(ir.TranslationError) as info:
        anthropic.request_to_ir({"messages": [{"role": "robot", "content": "x"}]})
    assert info.value.field == "messages[0].role"
    with pytest.raises(ir.TranslationError) as info:
        anthropic.request_to_ir({"messages": [{"role": "user", "content": [{"type": "text"}]}]})
    assert info.value.field == "messages[0].content[0].text"
    with pytest.raises(ir.TranslationError) as info:
        anthropic.request_to_ir({"messages": "hi"})
    assert info.value.field == "messages"


def _req(*messages: ir.Message, **kw: Any) -> ir.Request:
    return ir.Request(messages=messages, **kw)


def test_request_out_merges_roles_and_puts_results_first() -> None:
    req = _req(
        ir.Message(U, (ir.Text("a"),)),
        ir.Message(U, (ir.Text("b"),)),
        ir.Message(
            A, (ir.ToolCall("functions.get:0", "get", '{"x":1}'), ir.ToolCall("c2", "get", ""))
        ),
        ir.Message(U, (ir.Text("note"), ir.ToolResult("c2", "get", (ir.Text("2"),)))),
        ir.Message(U, (ir.ToolResult("functions.get:0", "get", (ir.Text("1"),), True),)),
        system=(ir.Text("sys"),),
    )
    body = anthropic.request_from_ir(req, "claude-x", stream=False)
    check_request("anthropic", body)
    assert body["system"] == [{"type": "text", "text": "sys"}]
    assert body["max_tokens"] == anthropic.DEFAULT_MAX_TOKENS
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[0]["content"] == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    calls = msgs[1]["content"]
    assert calls[0]["id"].startswith("functions_get_0_") and calls[0]["input"] == {"x": 1}
    assert calls[1]["input"] == {}
    results = msgs[2]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result", "text"]
    assert results[0]["tool_use_id"] == calls[0]["id"] and results[0]["is_error"] is True
    assert results[1] == {"type": "tool_result", "tool_use_id": "c2", "content": "2"}  # call order


def test_thinking_budget_max_tokens_and_sampling_rules() -> None:
    base = (ir.Message(U, (ir.Text("q"),)),)
    body = anthropic.request_from_ir(
        ir.Request(base, thinking=ir.Thinking(True, 31999), temperature=0.2, top_k=5, top_p=0.9),
        "m",
        True,
    )
    check_request("anthropic", body)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 31999}
    assert body["max_tokens"] > 31999
    assert "temperature" not in body and "top_k" not in body and "top_p" not in body
    body = anthropic.request_from_ir(
        ir.Request(base, thinking=ir.Thinking(True, 20000), max_tokens=4096), "m", False
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4095}
    body = anthropic.request_from_ir(
        ir.Request(base, thinking=ir.Thinking(effort="high")), "m", False
    )
    assert body["thinking"]["budget_tokens"] == 24576
    body = anthropic.request_from_ir(ir.Request(base, temperature=1.7), "m", False)
    assert body["temperature"] == 1


def test_thinking_is_dropped_when_the_tool_loop_lost_its_signature() -> None:
    call = ir.ToolCall("c1", "t", "{}")
    msgs = (
        ir.Message(U, (ir.Text("q"),)),
        ir.Message(A, (ir.Reasoning("hmm", "gsig", source="gemini"), call)),
        ir.Message(U, (ir.ToolResult("c1", "t", (ir.Text("r"),)),)),
    )
    body = anthropic.request_from_ir(ir.Request(msgs, thinking=ir.Thinking(True, 2048)), "m", True)
    check_request("anthropic", body)
    assert "thinking" not in body  # the Gemini signature cannot be replayed here
    assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_use"]
    own = (msgs[0], ir.Message(A, (ir.Reasoning("hmm", "asig", source="anthropic"), call)), msgs[2])
    body = anthropic.request_from_ir(ir.Request(own, thinking=ir.Thinking(True, 2048)), "m", True)
    assert body["thinking"]["type"] == "enabled"
    assert body["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "hmm",
        "signature": "asig",
    }
    forced = anthropic.request_from_ir(
        ir.Request(
            own,
            thinking=ir.Thinking(True, 2048),
            tools=(ir.Tool("t"),),
            tool_choice=ir.ToolChoice("tool", "t"),
        ),
        "m",
        True,
    )
    assert "thinking" not in forced and forced["tool_choice"] == {"type": "tool", "name": "t"}


def test_tools_choice_images_and_json_mode() -> None:
    req = ir.Request(
        (
            ir.Message(
                U,
                (
                    ir.Text("see"),
                    ir.Image("image/png", data="iVBOR"),
                    ir.Image("image/jpeg", url="https://x/y.jpg"),
                    ir.Image("application/pdf", data="JVBER"),
                ),
            ),
        ),
        tools=(ir.Tool("f", "does f", {"properties": {"a": {"type": "string"}}}),),
        parallel_tool_calls=False,
        response_format=ir.ResponseFormat("json_schema", {"type": "object"}),
        stop=("END",),
        user="u1",
    )
    body = anthropic.request_from_ir(req, "m", False)
    check_request("anthropic", body)
    content = body["messages"][0]["content"]
    assert content[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
    }
    assert content[2] == {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}}
    assert content[3]["type"] == "document"
    assert body["tools"] == [
        {
            "name": "f",
            "description": "does f",
            "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}},
        }
    ]
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": {"type": "object"}}
    }
    assert body["stop_sequences"] == ["END"] and body["metadata"] == {"user_id": "u1"}
    json_mode = anthropic.request_from_ir(
        ir.Request(req.messages, response_format=ir.ResponseFormat("json_object")), "m", False
    )
    assert "JSON" in json_mode["system"][-1]["text"]


def test_a_conversation_that_opens_with_the_assistant_gets_a_user_turn() -> None:
    body = anthropic.request_from_ir(_req(ir.Message(A, (ir.Text("hello"),))), "m", False)
    check_request("anthropic", body)
    assert body["messages"][0]["role"] == "user"


# --------------------------------------------------------------------------- responses

RESPONSE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "plan", "signature": "SIG=="},
        {"type": "redacted_thinking", "data": "REDACTED"},
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "output_tokens": 20,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 5,
    },
}


def test_response_round_trip_and_usage() -> None:
    resp = anthropic.response_to_ir(RESPONSE)
    assert resp.content == (
        ir.Reasoning("plan", "SIG==", False, "anthropic"),
        ir.Reasoning("", "REDACTED", True, "anthropic"),
        ir.Text("Let me look."),
        ir.ToolCall("toolu_1", "Bash", '{"command":"ls"}'),
    )
    assert resp.stop_reason is ir.StopReason.TOOL_USE
    assert resp.usage == ir.Usage(115, 20, 100, 0, 5)
    body = anthropic.response_from_ir(resp, "claude-alias")
    Message.model_validate(body)
    assert body["content"] == RESPONSE["content"]
    assert body["usage"] == {**RESPONSE["usage"]} and body["model"] == "claude-alias"


def test_foreign_signatures_are_tagged_for_the_client() -> None:
    resp = ir.Response(
        "r", "m", (ir.Reasoning("", "GEM", source="gemini"), ir.Text("x")), ir.StopReason.END_TURN
    )
    body = anthropic.response_from_ir(resp, "m")
    assert body["content"][0] == {"type": "thinking", "thinking": "", "signature": "zcpaGEMIGEM"}
    back = anthropic.request_to_ir(
        {"messages": [{"role": "assistant", "content": body["content"]}]}
    )
    assert back.messages[0].content[0] == ir.Reasoning("", "GEM", False, "gemini")


# --------------------------------------------------------------------------- streams


def _start(index: int, block: dict[str, Any]) -> bytes:
    return typed_event("content_block_start", index=index, content_block=block)


def _delta(index: int, kind: str, **delta: str) -> bytes:
    return typed_event("content_block_delta", index=index, delta={"type": kind, **delta})


def _stop(index: int) -> bytes:
    return typed_event("content_block_stop", index=index)


UPSTREAM = b"".join(
    [
        typed_event(
            "message_start",
            message={
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 12, "cache_read_input_tokens": 30, "output_tokens": 1},
            },
        ),
        typed_event("ping"),
        _start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        _delta(0, "thinking_delta", thinking="I should "),
        _delta(0, "thinking_delta", thinking="list files."),
        _delta(0, "signature_delta", signature="EqQBsig=="),
        _stop(0),
        _start(1, {"type": "text", "text": ""}),
        _delta(1, "text_delta", text="Listing."),
        _stop(1),
        _start(2, {"type": "tool_use", "id": "toolu_a", "name": "Bash", "input": {}}),
        _delta(2, "input_json_delta", partial_json=""),
        _delta(2, "input_json_delta", partial_json='{"comma'),
        _delta(2, "input_json_delta", partial_json='nd": "ls"}'),
        _stop(2),
        _start(3, {"type": "tool_use", "id": "toolu_b", "name": "Read", "input": {}}),
        _delta(3, "input_json_delta", partial_json='{"file_path": "/a"}'),
        _stop(3),
        typed_event(
            "message_delta",
            delta={"stop_reason": "tool_use", "stop_sequence": None},
            usage={"output_tokens": 42},
        ),
        typed_event("message_stop"),
    ]
)


@pytest.mark.parametrize("chunk", [None, 7, 1])
def test_decoder_on_a_real_shaped_stream(chunk: int | None) -> None:
    events = decode("anthropic", UPSTREAM, chunk=chunk)
    assert events[0] == ir.StreamStart("msg_1", "claude-sonnet-4-5")
    assert events[-2:] == [
        ir.UsageEvent(ir.Usage(42, 42, 30)),
        ir.Stop(ir.StopReason.TOOL_USE),
    ]
    resp = ir.aggregate(events)
    assert resp.content == (
        ir.Reasoning("I should list files.", "EqQBsig==", False, "anthropic"),
        ir.Text("Listing."),
        ir.ToolCall("toolu_a", "Bash", '{"command": "ls"}'),
        ir.ToolCall("toolu_b", "Read", '{"file_path": "/a"}'),
    )


def test_decoder_errors() -> None:
    truncated = UPSTREAM.split(b"event: message_delta")[0]
    assert isinstance(decode("anthropic", truncated)[-1], ir.StreamError)
    err = sse(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    events = decode("anthropic", UPSTREAM.split(b"event: content_block_start")[0] + err)
    assert events[-1] == ir.StreamError("Overloaded", "overloaded")


def _accumulate(data: bytes) -> Any:
    snapshot = None
    bufs: dict[int, bytes] = {}
    names = []
    for event, payload in frames(data):
        body = json.loads(payload)
        assert body["type"] == event
        names.append(event)
        if event != "error":
            snapshot = accumulate_event(event=body, current_snapshot=snapshot, json_bufs=bufs)
    return snapshot, names


def test_encoder_output_is_what_the_sdk_accumulates() -> None:
    events = decode("anthropic", UPSTREAM)
    data = encode("anthropic", events)
    message, names = _accumulate(data)
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert message.model == "client-model"
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[0].signature == "EqQBsig=="
    assert message.content[2].input == {"command": "ls"}
    assert message.content[3].input == {"file_path": "/a"}
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == 42 and message.usage.cache_read_input_tokens == 30
    assert message.usage.input_tokens == 12


def test_encoder_handles_foreign_signature_only_blocks_and_errors() -> None:
    events: list[ir.Event] = [
        ir.StreamStart("x", "gemini-3"),
        ir.ReasoningSignature(0, "GEMSIG", source="gemini"),
        ir.BlockEnd(0),
        ir.ToolCallStart(1, "call_1", "Bash"),
        ir.ToolCallDelta(1, '{"command":"ls"}'),
        ir.BlockEnd(1),
        ir.TextDelta(2, "late"),
        ir.StreamError("upstream went away", "overloaded"),
    ]
    data = encode("anthropic", events)
    parsed = [(e, json.loads(p)) for e, p in frames(data)]
    assert parsed[1][1]["content_block"]["type"] == "thinking"
    assert parsed[2][1]["delta"] == {"type": "signature_delta", "signature": "zcpaGEMIGEMSIG"}
    assert parsed[-1] == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "upstream went away"}},
    )
    enc = anthropic.StreamEncoder("m", "r")
    assert enc.encode(ir.StreamStart("a", "b")).startswith(b"event: message_start")
    tail = enc.error("boom")
    assert (
        tail
        == b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"boom"}}\n\n'
    )
    assert enc.encode(ir.TextDelta(0, "after")) == b""
