"""OpenAI Responses: requests, responses and both stream directions."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from router.formats import ir, responses

from ._support import check_request, fixture_body

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
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "spawn and list"}],
        },
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Plan"}],
            "encrypted_content": "gAAAAABenc-_==",
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_A",
            "name": "spawn_agent",
            "namespace": "multi_agent_v1",
            "arguments": '{"message":"hi"}',
        },
        {
            "type": "function_call",
            "id": "fc_2",
            "call_id": "call_B",
            "name": "exec_command",
            "arguments": '{"cmd":"ls"}',
        },
        {"type": "function_call_output", "call_id": "call_A", "output": "spawned"},
        {
            "type": "function_call_output",
            "call_id": "call_B",
            "output": [{"type": "input_text", "text": "a.txt"}],
        },
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "now summarise"}],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Done."}],
        },
        {"role": "user", "content": "thanks"},
    ],
    "tools": [
        {
            "type": "function",
            "name": "exec_command",
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
        },
        {
            "type": "namespace",
            "name": "multi_agent_v1",
            "description": "agents",
            "tools": [
                {
                    "type": "function",
                    "name": "spawn_agent",
                    "parameters": {"type": "object", "properties": {"message": {"type": "string"}}},
                }
            ],
        },
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch"},
        {"type": "web_search"},
    ],
    "reasoning": {"effort": "high", "summary": "auto"},
    "text": {
        "format": {
            "type": "json_schema",
            "name": "out",
            "schema": {"type": "object"},
            "strict": True,
        }
    },
    "max_output_tokens": 1000,
    "store": False,
    "stream": True,
}


def test_history_to_ir_and_back() -> None:
    req = responses.request_to_ir(HISTORY)
    assert req.system == (ir.Text("Be helpful."),)
    assert [m.role for m in req.messages] == [U, A, U, S, A, U]
    assistant = req.messages[1].content
    assert assistant[0] == ir.Reasoning(
        "Plan", "rs_1.gAAAAABenc-_==", False, "responses"
    )  # id packed
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
    assert items[1] == {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "Plan"}],
        "encrypted_content": "gAAAAABenc-_==",
    }
    assert items[2] == {
        "type": "function_call",
        "call_id": "call_A",
        "name": "spawn_agent",
        "arguments": '{"message":"hi"}',
        "namespace": "multi_agent_v1",
    }
    assert items[6] == {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "now summarise"}],
    }
    assert body["tools"][1] == {
        "type": "namespace",
        "name": "multi_agent_v1",
        "description": "",
        "tools": [
            {
                "type": "function",
                "name": "spawn_agent",
                "parameters": {"type": "object", "properties": {"message": {"type": "string"}}},
                "strict": False,
            }
        ],
    }
    assert body["tools"][2] == {
        "type": "custom",
        "name": "apply_patch",
        "description": "Apply a patch",
    }
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
        responses.request_to_ir(
            {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}
        )
    assert info.value.field == "input[0].call_id"


def test_string_input_and_foreign_reasoning_is_not_replayed() -> None:
    req = responses.request_to_ir({"model": "m", "input": "hello"})
    assert req.messages == (ir.Message(U, (ir.Text("hello"),)),)
    msgs = (
        ir.Message(U, (ir.Text("q"),)),
        ir.Message(
            A, (ir.Reasoning("x", "CLAUDE", source="anthropic"), ir.ToolCall("c", "f", "{}"))
        ),
        ir.Message(U, (ir.ToolResult("c", "f", (ir.Text("r"), ir.Image("image/png", data="AA"))),)),
    )
    body = responses.request_from_ir(ir.Request(msgs, temperature=0.3), "gpt-5", False)
    check_request("responses", body)
    assert [i["type"] for i in body["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]
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
        {
            "id": "rs_1",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Think"}],
            "encrypted_content": "gAAAAABx",
        },
        {
            "id": "msg_1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Calling.", "annotations": []}],
        },
        {
            "id": "fc_1",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_1",
            "name": "close_agent",
            "namespace": "multi_agent_v1",
            "arguments": '{"target":"a"}',
        },
        {
            "id": "ctc_1",
            "type": "custom_tool_call",
            "call_id": "call_2",
            "name": "apply_patch",
            "input": "*** Begin Patch",
        },
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 80},
        "output_tokens": 50,
        "output_tokens_details": {"reasoning_tokens": 20},
        "total_tokens": 150,
    },
}
TOOLS = (
    ir.Tool("multi_agent_v1__close_agent", namespace="multi_agent_v1"),
    ir.Tool("apply_patch", kind="custom"),
)


def test_response_round_trip() -> None:
    resp = responses.response_to_ir(RESPONSE)
    assert resp.content == (
        ir.Reasoning("Think", "rs_1.gAAAAABx", False, "responses"),
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
    assert (
        body["output"][2]["namespace"] == "multi_agent_v1"
        and body["output"][2]["name"] == "close_agent"
    )
    assert body["output"][3]["input"] == "*** Begin Patch"
    assert body["output"][0]["encrypted_content"] == "gAAAAABx"
    assert body["output"][0]["id"] == "rs_1"
    assert body["usage"]["input_tokens_details"]["cached_tokens"] == 80
    incomplete = responses.response_from_ir(
        ir.Response("x", "m", (), ir.StopReason.MAX_TOKENS), "m"
    )
    assert incomplete["status"] == "incomplete"
    assert incomplete["incomplete_details"] == {"reason": "max_output_tokens"}
