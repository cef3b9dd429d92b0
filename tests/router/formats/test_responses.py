"""OpenAI Responses: requests, responses and both stream directions."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from router.formats import ir, responses

from ._support import check_request, decode, encode, fixture_body, frames, sse

U, A, S = ir.Role.USER, ir.Role.ASSISTANT, ir.Role.SYSTEM
EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)


def test_codex_request_to_ir() -> None:
    req = responses.request_to_ir(fixture_body("codex-turn1"))
    assert len(req.system) == 3 and req.system[0].text.startswith("You are a coding agent")
    assert [m.role for m in req.messages] == [U, U]
    names = [t.name for t in req.tools]
    assert "exec_command" in names and "web_search" not in names
    ns = next(t for t in req.tools if t.name == "multi_agent_v1__spawn_agent")
    assert ns.namespace == "multi_agent_v1"
    assert req.tool_choice == ir.ToolChoice("auto") and req.parallel_tool_calls is True
    assert req.thinking == ir.Thinking(True, None, None, True)
    assert req.stream


HISTORY: dict[str, Any] = {
    "model": "gpt-5-codex",
    "instructions": "Be helpful.",
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "spawn and list"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan"}], "encrypted_content": "gAAAAABenc-_=="},
        {"type": "function_call", "id": "fc_1", "call_id": "call_A", "name": "spawn_agent", "namespace": "multi_agent_v1", "arguments": '{"message":"hi"}'},
        {"type": "function_call", "id": "fc_2", "call_id": "call_B", "name": "exec_command", "arguments": '{"cmd":"ls"}'},
        {"type": "function_call_output", "call_id": "call_A", "output": "spawned"},
        {"type": "function_call_output", "call_id": "call_B", "output": [{"type": "input_text", "text": "a.txt"}]},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "now summarise"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
        {"role": "user", "content": "thanks"},
    ],
    "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
        {"type": "namespace", "name": "multi_agent_v1", "description": "agents", "tools": [
            {"type": "function", "name": "spawn_agent", "parameters": {"type": "object", "properties": {"message": {"type": "string"}}}}
        ]},
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch"},
        {"type": "web_search"},
    ],
    "reasoning": {"effort": "high", "summary": "auto"},
    "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
    "max_output_tokens": 1000,
    "store": False,
    "stream": True,
}


def test_history_to_ir_and_back() -> None:
    req = responses.request_to_ir(HISTORY)
    assert req.system == (ir.Text("Be helpful."),)
    assert [m.role for m in req.messages] == [U, A, U, S, A, U]
    assistant = req.messages[1].content
    assert assistant[0] == ir.Reasoning("Plan", "gAAAAABenc-_==", False, "responses")
    assert assistant[1] == ir.ToolCall("call_A", "multi_agent_v1__spawn_agent", '{"message":"hi"}')
    results = req.messages[2].content
    assert results == (
        ir.ToolResult("call_A", "multi_agent_v1__spawn_agent", (ir.Text("spawned"),)),
        ir.ToolResult("call_B", "exec_command", (ir.Text("a.txt"),)),
    )
    custom = next(t for t in req.tools if t.name == "apply_patch")
    assert custom.kind == "custom" and custom.parameters["required"] == ["input"]
    assert req.thinking == ir.Thinking(True, None, "high", True)
    assert req.response_format == ir.ResponseFormat("json_schema", {"type": "object"}, "out", True)

    body = responses.request_from_ir(req, "gpt-5", stream=True)
    check_request("responses", body)
    assert body["instructions"] == "Be helpful."
    items = body["input"]
    assert items[1] == {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Plan"}], "encrypted_content": "gAAAAABenc-_=="}
    assert items[2] == {"type": "function_call", "call_id": "call_A", "name": "spawn_agent", "arguments": '{"message":"hi"}', "namespace": "multi_agent_v1"}
    assert items[6] == {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "now summarise"}]}
    assert body["tools"][1] == {"type": "namespace", "name": "multi_agent_v1", "description": "", "tools": [
        {"type": "function", "name": "spawn_agent", "parameters": {"type": "object", "properties": {"message": {"type": "string"}}}, "strict": False}
    ]}
    assert body["tools"][2] == {"type": "custom", "name": "apply_patch", "description": "Apply a patch"}
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["store"] is False and body["stream"] is True
    assert responses.request_to_ir(body).messages == req.messages


def test_invalid_and_stateful_requests_are_refused_by_field() -> None:
    with pytest.raises(ir.TranslationError) as info:
        responses.request_to_ir({"input": "hi", "previous_response_id": "resp_1"})
    assert info.value.field == "previous_response_id"
    with pytest.raises(ir.TranslationError) as info:
        responses.request_to_ir({"input": [{"type": "item_reference", "id": "msg_1"}]})
    assert info.value.field == "input[0]"
    with pytest.raises(ir.TranslationError) as info:
        responses.request_to_ir({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]})
    assert info.value.field == "input[0].call_id"


def test_string_input_and_foreign_reasoning_is_not_replayed() -> None:
    req = responses.request_to_ir({"model": "m", "input": "hello"})
    assert req.messages == (ir.Message(U, (ir.Text("hello"),)),)
    msgs = (
        ir.Message(U, (ir.Text("q"),)),
        ir.Message(A, (ir.Reasoning("x", "CLAUDE", source="anthropic"), ir.ToolCall("c", "f", "{}"))),
        ir.Message(U, (ir.ToolResult("c", "f", (ir.Text("r"), ir.Image("image/png", data="AA"))),)),
    )
    body = responses.request_from_ir(ir.Request(msgs, temperature=0.3), "gpt-5", False)
    check_request("responses", body)
    assert [i["type"] for i in body["input"]] == ["message", "function_call", "function_call_output"]
    assert body["input"][2]["output"] == [
        {"type": "input_text", "text": "r"},
        {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "auto"},
    ]
    assert body["temperature"] == 0.3 and "instructions" not in body


RESPONSE: dict[str, Any] = {
    "id": "resp_9",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-5",
    "output": [
        {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Think"}], "encrypted_content": "gAAAAABx"},
        {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "Calling.", "annotations": []}]},
        {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1", "name": "close_agent", "namespace": "multi_agent_v1", "arguments": '{"target":"a"}'},
        {"id": "ctc_1", "type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch"},
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 80}, "output_tokens": 50,
              "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 150},
}
TOOLS = (
    ir.Tool("multi_agent_v1__close_agent", namespace="multi_agent_v1"),
    ir.Tool("apply_patch", kind="custom"),
)


def test_response_round_trip() -> None:
    resp = responses.response_to_ir(RESPONSE)
    assert resp.content == (
        ir.Reasoning("Think", "gAAAAABx", False, "responses"),
        ir.Text("Calling."),
        ir.ToolCall("call_1", "multi_agent_v1__close_agent", '{"target":"a"}'),
        ir.ToolCall("call_2", "apply_patch", '{"input":"*** Begin Patch"}'),
    )
    assert resp.stop_reason is ir.StopReason.TOOL_USE
    assert resp.usage == ir.Usage(100, 50, 80, 20)
    body = responses.response_from_ir(resp, "alias", tools=TOOLS)
    Response.model_validate(body)
    types = [item["type"] for item in body["output"]]
    assert types == ["reasoning", "message", "function_call", "custom_tool_call"]
    assert body["output"][2]["namespace"] == "multi_agent_v1" and body["output"][2]["name"] == "close_agent"
    assert body["output"][3]["input"] == "*** Begin Patch"
    assert body["output"][0]["encrypted_content"] == "gAAAAABx"
    assert body["usage"]["input_tokens_details"]["cached_tokens"] == 80
    incomplete = responses.response_from_ir(ir.Response("x", "m", (), ir.StopReason.MAX_TOKENS), "m")
    assert incomplete["status"] == "incomplete"
    assert incomplete["incomplete_details"] == {"reason": "max_output_tokens"}


def _ev(kind: str, **body: Any) -> bytes:
    return sse(kind, {"type": kind, **body})


RESP = {"id": "resp_1", "object": "response", "created_at": 1, "status": "in_progress", "model": "gpt-5", "output": [],
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
UPSTREAM = b"".join(
    [
        _ev("response.created", sequence_number=0, response=RESP),
        _ev("response.in_progress", sequence_number=1, response=RESP),
        _ev("response.output_item.added", sequence_number=2, output_index=0, item={"id": "rs_1", "type": "reasoning", "summary": []}),
        _ev("response.reasoning_summary_part.added", sequence_number=3, item_id="rs_1", output_index=0, summary_index=0, part={"type": "summary_text", "text": ""}),
        _ev("response.reasoning_summary_text.delta", sequence_number=4, item_id="rs_1", output_index=0, summary_index=0, delta="**Plan** "),
        _ev("response.reasoning_summary_text.delta", sequence_number=5, item_id="rs_1", output_index=0, summary_index=0, delta="it"),
        _ev("response.reasoning_summary_text.done", sequence_number=6, item_id="rs_1", output_index=0, summary_index=0, text="**Plan** it"),
        _ev("response.output_item.done", sequence_number=7, output_index=0, item={"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "**Plan** it"}], "encrypted_content": "gAAAAABenc"}),
        _ev("response.output_item.added", sequence_number=8, output_index=1, item={"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}),
        _ev("response.content_part.added", sequence_number=9, item_id="msg_1", output_index=1, content_index=0, part={"type": "output_text", "text": "", "annotations": []}),
        _ev("response.output_text.delta", sequence_number=10, item_id="msg_1", output_index=1, content_index=0, delta="Run", logprobs=[]),
        _ev("response.output_text.delta", sequence_number=11, item_id="msg_1", output_index=1, content_index=0, delta="ning.", logprobs=[]),
        _ev("response.output_text.done", sequence_number=12, item_id="msg_1", output_index=1, content_index=0, text="Running.", logprobs=[]),
        _ev("response.content_part.done", sequence_number=13, item_id="msg_1", output_index=1, content_index=0, part={"type": "output_text", "text": "Running.", "annotations": []}),
        _ev("response.output_item.done", sequence_number=14, output_index=1, item={"id": "msg_1", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "Running.", "annotations": []}]}),
        _ev("response.output_item.added", sequence_number=15, output_index=2, item={"id": "fc_1", "type": "function_call", "status": "in_progress", "call_id": "call_X", "name": "exec_command", "arguments": ""}),
        _ev("response.function_call_arguments.delta", sequence_number=16, item_id="fc_1", output_index=2, delta='{"cmd":'),
        _ev("response.function_call_arguments.delta", sequence_number=17, item_id="fc_1", output_index=2, delta='"ls"}'),
        _ev("response.function_call_arguments.done", sequence_number=18, item_id="fc_1", output_index=2, arguments='{"cmd":"ls"}'),
        _ev("response.output_item.done", sequence_number=19, output_index=2, item={"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_X", "name": "exec_command", "arguments": '{"cmd":"ls"}'}),
        _ev("response.output_item.added", sequence_number=20, output_index=3, item={"id": "fc_2", "type": "function_call", "status": "in_progress", "call_id": "call_Y", "name": "wait_agent", "namespace": "multi_agent_v1", "arguments": ""}),
        _ev("response.output_item.done", sequence_number=21, output_index=3, item={"id": "fc_2", "type": "function_call", "status": "completed", "call_id": "call_Y", "name": "wait_agent", "namespace": "multi_agent_v1", "arguments": '{"targets":["a"]}'}),
        _ev("response.completed", sequence_number=22, response={**RESP, "status": "completed", "usage": {
            "input_tokens": 30, "input_tokens_details": {"cached_tokens": 10}, "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 39}}),
    ]
)


@pytest.mark.parametrize("chunk", [None, 13])
def test_decoder_on_a_real_shaped_stream(chunk: int | None) -> None:
    events = decode("responses", UPSTREAM, chunk=chunk)
    assert events[0] == ir.StreamStart("resp_1", "gpt-5")
    assert events[-2:] == [ir.UsageEvent(ir.Usage(30, 9, 10, 4)), ir.Stop(ir.StopReason.TOOL_USE)]
    resp = ir.aggregate(events)
    assert resp.content == (
        ir.Reasoning("**Plan** it", "gAAAAABenc", False, "responses"),
        ir.Text("Running."),
        ir.ToolCall("call_X", "exec_command", '{"cmd":"ls"}'),
        ir.ToolCall("call_Y", "multi_agent_v1__wait_agent", '{"targets":["a"]}'),
    )


def test_decoder_failure_and_truncation() -> None:
    head = UPSTREAM.split(b"event: response.output_item.added")[0]
    failed = _ev("response.failed", sequence_number=3, response={**RESP, "status": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow down"}})
    assert decode("responses", head + failed)[-1] == ir.StreamError("slow down", "rate_limit")
    assert isinstance(decode("responses", head)[-1], ir.StreamError)
    incomplete = _ev("response.incomplete", sequence_number=3, response={**RESP, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}})
    assert decode("responses", head + incomplete)[-1] == ir.Stop(ir.StopReason.MAX_TOKENS)


def _replay(data: bytes) -> tuple[list[str], Any]:
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    names: list[str] = []
    final = None
    for number, (event, payload) in enumerate(frames(data)):
        body = json.loads(payload)
        assert body["type"] == event and body["sequence_number"] == number
        names.append(event or "")
        parsed = EVENTS.validate_python(body)
        for out in state.handle_event(parsed):
            if out.type in ("response.completed", "response.incomplete", "response.failed"):
                final = out.response
    return names, final


def test_encoder_output_is_what_the_sdk_accumulates() -> None:
    events = decode("responses", UPSTREAM)
    tools = (ir.Tool("multi_agent_v1__wait_agent", namespace="multi_agent_v1"),)
    names, final = _replay(encode("responses", events, tools=tools))
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in names and "response.function_call_arguments.delta" in names
    assert final.model == "client-model" and final.status == "completed"
    out = final.output
    assert [o.type for o in out] == ["reasoning", "message", "function_call", "function_call"]
    assert out[0].encrypted_content == "gAAAAABenc" and out[0].summary[0].text == "**Plan** it"
    assert out[1].content[0].text == "Running."
    assert (out[2].call_id, out[2].name, out[2].arguments) == ("call_X", "exec_command", '{"cmd":"ls"}')
    assert (out[3].namespace, out[3].name) == ("multi_agent_v1", "wait_agent")
    assert final.usage.input_tokens_details.cached_tokens == 10


def test_encoder_custom_tools_foreign_signatures_and_errors() -> None:
    events: list[ir.Event] = [
        ir.StreamStart("msg", "claude"),
        ir.ReasoningDelta(0, "hmm"),
        ir.ReasoningSignature(0, "CLAUDESIG", source="anthropic"),
        ir.BlockEnd(0),
        ir.ToolCallStart(1, "toolu_1", "apply_patch"),
        ir.ToolCallDelta(1, '{"input":"*** Begin'),
        ir.ToolCallDelta(1, ' Patch"}'),
        ir.BlockEnd(1),
        ir.Stop(ir.StopReason.TOOL_USE),
    ]
    names, final = _replay(encode("responses", events, tools=(ir.Tool("apply_patch", kind="custom"),)))
    assert "response.custom_tool_call_input.done" in names
    assert final.output[0].encrypted_content == "zcpaANTHCLAUDESIG"
    assert final.output[1].type == "custom_tool_call" and final.output[1].input == "*** Begin Patch"
    enc = responses.StreamEncoder("m", "r")
    data = enc.encode(ir.StreamStart("a", "b")) + enc.encode(ir.TextDelta(0, "partial"))
    names, final = _replay(data + enc.error("upstream died", "rate_limit"))
    assert names[-1] == "response.failed"
    assert final.error.code == "rate_limit_exceeded" and final.error.message == "upstream died"
