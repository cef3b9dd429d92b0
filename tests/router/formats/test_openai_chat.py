"""OpenAI Chat Completions: requests, responses and both stream directions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from router.formats import ir, openai_chat

from ._support import check_request, decode, encode, frames, sse

U, A, S = ir.Role.USER, ir.Role.ASSISTANT, ir.Role.SYSTEM

REQUEST: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "system", "content": [{"type": "text", "text": "Use tools."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "high"},
                },
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"i":0}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"i":1}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "a dog"}]},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Summarise."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "look",
                "description": "Look",
                "parameters": {"type": "object", "properties": {"i": {"type": "integer"}}},
            },
        }
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "max_completion_tokens": 500,
    "stop": "STOP",
    "temperature": 0.5,
    "reasoning_effort": "low",
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
    },
    "stream": True,
    "stream_options": {"include_usage": True},
    "user": "u-1",
    "seed": 7,
}


def test_request_to_ir() -> None:
    req = openai_chat.request_to_ir(REQUEST)
    assert req.system == (ir.Text("Be brief."), ir.Text("Use tools."))
    roles = [m.role for m in req.messages]
    assert roles == [U, A, U, S, U]
    assert req.messages[0].content[1] == ir.Image("image/png", data="iVBOR")
    assert req.messages[0].content[2] == ir.Image("image/jpeg", url="https://example.com/cat.jpg")
    assert req.messages[2].content == (
        ir.ToolResult("call_1", "look", (ir.Text("a cat"),)),
        ir.ToolResult("call_2", "look", (ir.Text("a dog"),)),
    )
    assert req.max_tokens == 500 and req.stop == ("STOP",) and req.seed == 7
    assert req.thinking == ir.Thinking(effort="low")
    assert req.response_format == ir.ResponseFormat(
        "json_schema", {"type": "object"}, "answer", True
    )
    assert req.tool_choice == ir.ToolChoice("auto") and req.parallel_tool_calls is True


def test_request_round_trip_is_valid_and_faithful() -> None:
    req = openai_chat.request_to_ir(REQUEST)
    body = openai_chat.request_from_ir(req, "gpt-4o", stream=True)
    check_request("openai", body)
    assert body["messages"][0] == {"role": "system", "content": "Be brief.\n\nUse tools."}
    assert [m["role"] for m in body["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "system",
        "user",
    ]
    assert body["messages"][1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBOR"},
    }
    assert body["messages"][2]["tool_calls"][1]["function"] == {
        "name": "look",
        "arguments": '{"i":1}',
    }
    assert body["stream_options"] == {"include_usage": True}
    assert body["reasoning_effort"] == "low" and body["max_tokens"] == 500
    assert body["response_format"]["json_schema"]["name"] == "answer"
    assert openai_chat.request_to_ir(body).messages == req.messages


def test_invalid_requests_name_the_field() -> None:
    with pytest.raises(ir.TranslationError) as info:
        openai_chat.request_to_ir(
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}
        )
    assert info.value.field == "messages[0].content[0].type"
    with pytest.raises(ir.TranslationError) as info:
        openai_chat.request_to_ir({"messages": [{"role": "tool", "content": "x"}]})
    assert info.value.field == "messages[0].tool_call_id"
    with pytest.raises(ir.TranslationError) as info:
        openai_chat.request_to_ir({"messages": [], "n": 2})
    assert info.value.field == "n"


def test_tool_results_with_images_and_unanswered_calls() -> None:
    msgs = (
        ir.Message(U, (ir.Text("go"),)),
        ir.Message(A, (ir.ToolCall("a", "shot", "{}"), ir.ToolCall("b", "shot", "{}"))),
        ir.Message(
            U, (ir.ToolResult("a", "shot", (ir.Text("png:"), ir.Image("image/png", data="AA"))),)
        ),
        ir.Message(A, (ir.Text("ok"),)),
    )
    body = openai_chat.request_from_ir(ir.Request(msgs), "m", False)
    check_request("openai", body)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "user", "assistant"]
    assert body["messages"][3]["tool_call_id"] == "b"  # repaired: answered as an error
    assert body["messages"][4]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
    ]


RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "thought",
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                        "extra_content": {"google": {"thought_signature": "TS"}},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 100,
        "completion_tokens": 30,
        "total_tokens": 130,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 12},
    },
}


def test_response_round_trip() -> None:
    resp = openai_chat.response_to_ir(RESPONSE)
    assert resp.content == (
        ir.Reasoning("thought", None, False, "openai"),
        ir.Text("Checking."),
        ir.Reasoning("", "TS", False, "openai"),
        ir.ToolCall("call_9", "f", "{}"),
    )
    assert resp.stop_reason is ir.StopReason.TOOL_USE
    assert resp.usage == ir.Usage(100, 30, 64, 12)
    body = openai_chat.response_from_ir(resp, "alias")
    ChatCompletion.model_validate(body)
    message = body["choices"][0]["message"]
    assert message["content"] == "Checking." and message["reasoning_content"] == "thought"
    assert message["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "TS"}}
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 64}
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    body = {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return sse(None, body)


UPSTREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": ""}),
        b": keep-alive\n\n",
        _chunk({"reasoning_content": "Two files"}),
        _chunk({"content": "I'll read "}),
        _chunk({"content": "both."}),
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "read", "arguments": ""},
                    }
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"pa'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'th":"a"}'}}]}),
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "read", "arguments": '{"path":'},
                    }
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": '"b"}'}}]}),
        _chunk({}, "tool_calls"),
        sse(
            None,
            {
                "id": "chatcmpl-9",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o",
                "choices": [],
                "usage": {
                    "prompt_tokens": 50,
                    "completion_tokens": 20,
                    "total_tokens": 70,
                    "prompt_tokens_details": {"cached_tokens": 10},
                },
            },
        ),
        b"data: [DONE]\n\n",
    ]
)


@pytest.mark.parametrize("chunk", [None, 5])
def test_decoder_split_arguments_and_parallel_calls(chunk: int | None) -> None:
    events = decode("openai", UPSTREAM, chunk=chunk)
    assert events[-2:] == [ir.UsageEvent(ir.Usage(50, 20, 10)), ir.Stop(ir.StopReason.TOOL_USE)]
    resp = ir.aggregate(events)
    assert resp.content == (
        ir.Reasoning("Two files", None, False, None),
        ir.Text("I'll read both."),
        ir.ToolCall("call_a", "read", '{"path":"a"}'),
        ir.ToolCall("call_b", "read", '{"path":"b"}'),
    )
    ends = [e.index for e in events if isinstance(e, ir.BlockEnd)]
    assert ends == [0, 1, 2, 3]


def test_decoder_error_and_truncation() -> None:
    err = sse(None, {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}})
    head = _chunk({"role": "assistant", "content": ""}) + _chunk({"content": "partial"})
    events = decode("openai", head + err)
    assert events[-1] == ir.StreamError("Rate limit reached", "rate_limit")
    assert ir.TextDelta(0, "partial") in events
    truncated = decode("openai", head)
    assert isinstance(truncated[-1], ir.StreamError)
    no_done = UPSTREAM.replace(b"data: [DONE]\n\n", b"")
    assert decode("openai", no_done)[-1] == ir.Stop(ir.StopReason.TOOL_USE)


def test_encoder_output_is_what_the_sdk_accumulates() -> None:
    data = encode("openai", decode("openai", UPSTREAM))
    assert data.endswith(b"data: [DONE]\n\n")
    state = ChatCompletionStreamState()
    for _, payload in frames(data):
        if payload == b"[DONE]":
            continue
        chunk = ChatCompletionChunk.model_validate(json.loads(payload))
        state.handle_chunk(chunk)
    final = state.get_final_completion()
    choice = final.choices[0]
    assert choice.message.content == "I'll read both."
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_a", "read", '{"path":"a"}'),
        ("call_b", "read", '{"path":"b"}'),
    ]
    assert choice.finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.prompt_tokens == 50
    assert final.model == "client-model"


def test_encoder_error_is_an_error_chunk_without_done() -> None:
    """As OpenAI does: a [DONE] after the error would let a client take the end for success."""
    enc = openai_chat.StreamEncoder("m", "r")
    enc.encode(ir.StreamStart("a", "b"))
    out = enc.error("upstream failed", "overloaded")
    payloads = [p for _, p in frames(out)]
    assert json.loads(payloads[-1])["error"]["message"] == "upstream failed"
    assert b"[DONE]" not in payloads
    assert enc.encode(ir.TextDelta(0, "x")) == b""


def test_encoder_carries_a_gemini_signature_on_the_tool_call() -> None:
    events: list[ir.Event] = [
        ir.StreamStart("x", "gemini"),
        ir.ReasoningSignature(0, "SIG", source="gemini"),
        ir.BlockEnd(0),
        ir.ToolCallStart(1, "call_1", "f"),
        ir.ToolCallDelta(1, "{}"),
        ir.BlockEnd(1),
        ir.Stop(ir.StopReason.TOOL_USE),
    ]
    chunks = [json.loads(p) for _, p in frames(encode("openai", events)) if p != b"[DONE]"]
    call = chunks[1]["choices"][0]["delta"]["tool_calls"][0]
    assert call["extra_content"] == {"google": {"thought_signature": "zcpaGEMISIG"}}
    back = openai_chat.request_to_ir(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                            "extra_content": call["extra_content"],
                        }
                    ],
                }
            ]
        }
    )
    assert back.messages[0].content[0] == ir.Reasoning("", "SIG", False, "gemini")
