"""OpenAI Responses streaming: upstream events -> IR, IR -> client events (SDK-checked)."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from router.formats import ir, responses

from ._support import decode, encode, frames, typed_event

EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)


RESP = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "in_progress",
    "model": "gpt-5",
    "output": [],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}
UPSTREAM = b"".join(
    [
        typed_event("response.created", sequence_number=0, response=RESP),
        typed_event("response.in_progress", sequence_number=1, response=RESP),
        typed_event(
            "response.output_item.added",
            sequence_number=2,
            output_index=0,
            item={"id": "rs_1", "type": "reasoning", "summary": []},
        ),
        typed_event(
            "response.reasoning_summary_part.added",
            sequence_number=3,
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            part={"type": "summary_text", "text": ""},
        ),
        typed_event(
            "response.reasoning_summary_text.delta",
            sequence_number=4,
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            delta="**Plan** ",
        ),
        typed_event(
            "response.reasoning_summary_text.delta",
            sequence_number=5,
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            delta="it",
        ),
        typed_event(
            "response.reasoning_summary_text.done",
            sequence_number=6,
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            text="**Plan** it",
        ),
        typed_event(
            "response.output_item.done",
            sequence_number=7,
            output_index=0,
            item={
                "id": "rs_1",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "**Plan** it"}],
                "encrypted_content": "gAAAAABenc",
            },
        ),
        typed_event(
            "response.output_item.added",
            sequence_number=8,
            output_index=1,
            item={
                "id": "msg_1",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            },
        ),
        typed_event(
            "response.content_part.added",
            sequence_number=9,
            item_id="msg_1",
            output_index=1,
            content_index=0,
            part={"type": "output_text", "text": "", "annotations": []},
        ),
        typed_event(
            "response.output_text.delta",
            sequence_number=10,
            item_id="msg_1",
            output_index=1,
            content_index=0,
            delta="Run",
            logprobs=[],
        ),
        typed_event(
            "response.output_text.delta",
            sequence_number=11,
            item_id="msg_1",
            output_index=1,
            content_index=0,
            delta="ning.",
            logprobs=[],
        ),
        typed_event(
            "response.output_text.done",
            sequence_number=12,
            item_id="msg_1",
            output_index=1,
            content_index=0,
            text="Running.",
            logprobs=[],
        ),
        typed_event(
            "response.content_part.done",
            sequence_number=13,
            item_id="msg_1",
            output_index=1,
            content_index=0,
            part={"type": "output_text", "text": "Running.", "annotations": []},
        ),
        typed_event(
            "response.output_item.done",
            sequence_number=14,
            output_index=1,
            item={
                "id": "msg_1",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Running.", "annotations": []}],
            },
        ),
        typed_event(
            "response.output_item.added",
            sequence_number=15,
            output_index=2,
            item={
                "id": "fc_1",
                "type": "function_call",
                "status": "in_progress",
                "call_id": "call_X",
                "name": "exec_command",
                "arguments": "",
            },
        ),
        typed_event(
            "response.function_call_arguments.delta",
            sequence_number=16,
            item_id="fc_1",
            output_index=2,
            delta='{"cmd":',
        ),
        typed_event(
            "response.function_call_arguments.delta",
            sequence_number=17,
            item_id="fc_1",
            output_index=2,
            delta='"ls"}',
        ),
        typed_event(
            "response.function_call_arguments.done",
            sequence_number=18,
            item_id="fc_1",
            output_index=2,
            arguments='{"cmd":"ls"}',
        ),
        typed_event(
            "response.output_item.done",
            sequence_number=19,
            output_index=2,
            item={
                "id": "fc_1",
                "type": "function_call",
                "status": "completed",
                "call_id": "call_X",
                "name": "exec_command",
                "arguments": '{"cmd":"ls"}',
            },
        ),
        typed_event(
            "response.output_item.added",
            sequence_number=20,
            output_index=3,
            item={
                "id": "fc_2",
                "type": "function_call",
                "status": "in_progress",
                "call_id": "call_Y",
                "name": "wait_agent",
                "namespace": "multi_agent_v1",
                "arguments": "",
            },
        ),
        typed_event(
            "response.output_item.done",
            sequence_number=21,
            output_index=3,
            item={
                "id": "fc_2",
                "type": "function_call",
                "status": "completed",
                "call_id": "call_Y",
                "name": "wait_agent",
                "namespace": "multi_agent_v1",
                "arguments": '{"targets":["a"]}',
            },
        ),
        typed_event(
            "response.completed",
            sequence_number=22,
            response={
                **RESP,
                "status": "completed",
                "usage": {
                    "input_tokens": 30,
                    "input_tokens_details": {"cached_tokens": 10},
                    "output_tokens": 9,
                    "output_tokens_details": {"reasoning_tokens": 4},
                    "total_tokens": 39,
                },
            },
        ),
    ]
)


@pytest.mark.parametrize("chunk", [None, 13])
def test_decoder_on_a_real_shaped_stream(chunk: int | None) -> None:
    events = decode("responses", UPSTREAM, chunk=chunk)
    assert events[0] == ir.StreamStart("resp_1", "gpt-5")
    assert events[-2:] == [ir.UsageEvent(ir.Usage(30, 9, 10, 4)), ir.Stop(ir.StopReason.TOOL_USE)]
    resp = ir.aggregate(events)
    assert resp.content == (
        ir.Reasoning("**Plan** it", "rs_1.gAAAAABenc", False, "responses"),
        ir.Text("Running."),
        ir.ToolCall("call_X", "exec_command", '{"cmd":"ls"}'),
        ir.ToolCall("call_Y", "multi_agent_v1__wait_agent", '{"targets":["a"]}'),
    )


def test_decoder_failure_and_truncation() -> None:
    head = UPSTREAM.split(b"event: response.output_item.added")[0]
    failed = typed_event(
        "response.failed",
        sequence_number=3,
        response={
            **RESP,
            "status": "failed",
            "error": {"code": "rate_limit_exceeded", "message": "slow down"},
        },
    )
    assert decode("responses", head + failed)[-1] == ir.StreamError("slow down", "rate_limit")
    assert isinstance(decode("responses", head)[-1], ir.StreamError)
    incomplete = typed_event(
        "response.incomplete",
        sequence_number=3,
        response={
            **RESP,
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
        },
    )
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
    assert (
        "response.reasoning_summary_text.delta" in names
        and "response.function_call_arguments.delta" in names
    )
    assert final.model == "client-model" and final.status == "completed"
    out = final.output
    assert [o.type for o in out] == ["reasoning", "message", "function_call", "function_call"]
    assert out[0].encrypted_content == "gAAAAABenc" and out[0].summary[0].text == "**Plan** it"
    assert out[1].content[0].text == "Running."
    assert (out[2].call_id, out[2].name, out[2].arguments) == (
        "call_X",
        "exec_command",
        '{"cmd":"ls"}',
    )
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
    names, final = _replay(
        encode("responses", events, tools=(ir.Tool("apply_patch", kind="custom"),))
    )
    assert "response.custom_tool_call_input.done" in names
    assert final.output[0].encrypted_content == "zcpaANTHCLAUDESIG"
    assert final.output[1].type == "custom_tool_call" and final.output[1].input == "*** Begin Patch"
    enc = responses.StreamEncoder("m", "r")
    data = enc.encode(ir.StreamStart("a", "b")) + enc.encode(ir.TextDelta(0, "partial"))
    names, final = _replay(data + enc.error("upstream died", "rate_limit"))
    assert names[-1] == "response.failed"
    assert final.error.code == "rate_limit_exceeded" and final.error.message == "upstream died"
