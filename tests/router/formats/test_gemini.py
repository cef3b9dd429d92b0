"""Gemini generateContent: requests, responses and both stream directions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import types as gtypes

from router.formats import gemini, ir
from router.formats._gemini_parts import SKIP_SIGNATURE

from ._support import check_request, decode, encode, fixture_body, frames, sse

U, A = ir.Role.USER, ir.Role.ASSISTANT


def test_gemini_cli_turn1_to_ir() -> None:
    req = gemini.request_to_ir(fixture_body("gemini-cli-turn1"))
    assert req.system[0].text.startswith("You are Gemini CLI")
    assert [m.role for m in req.messages] == [U]
    assert [t.name for t in req.tools][:3] == ["update_topic", "list_directory", "read_file"]
    assert req.tools[1].parameters["properties"]["ignore"] == {  # type: ignore[index]
        "description": req.tools[1].parameters["properties"]["ignore"]["description"],  # type: ignore[index]
        "items": {"type": "string"},
        "type": "array",
    }
    assert req.thinking == ir.Thinking(True, None, "high", True)
    assert (req.temperature, req.top_p, req.top_k) == (1.0, 0.95, 64)


def test_gemini_cli_router_request_json_mode_schema_is_lowercased() -> None:
    req = gemini.request_to_ir(fixture_body("gemini-cli-router"))
    assert [m.role for m in req.messages] == [U, U]
    fmt = req.response_format
    assert fmt is not None and fmt.type == "json_schema" and fmt.schema is not None
    assert fmt.schema["type"] == "object"
    assert fmt.schema["properties"]["complexity_score"]["type"] == "integer"  # type: ignore[index]


def _history(with_ids: bool) -> dict[str, Any]:
    def fc(name: str, i: int, **kw: Any) -> dict[str, Any]:
        call: dict[str, Any] = {"name": name, "args": {"path": f"/{i}"}}
        if with_ids:
            call["id"] = f"gid-{i}"
        return {"functionCall": call, **kw}

    def fr(name: str, i: int, out: str) -> dict[str, Any]:
        resp: dict[str, Any] = {"name": name, "response": {"output": out}}
        if with_ids:
            resp["id"] = f"gid-{i}"
        return {"functionResponse": resp}

    return {
        "contents": [
            {"role": "user", "parts": [{"text": "read three files"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "planning", "thought": True},
                    fc("read_file", 0, thoughtSignature="SIG0"),
                    fc("read_file", 1),
                    fc("glob", 2),
                ],
            },
            {
                "role": "user",
                "parts": [
                    fr("glob", 2, "g"),
                    fr("read_file", 0, "zero"),
                    fr("read_file", 1, "one"),
                ],
            },
        ]
    }


@pytest.mark.parametrize("with_ids", [False, True])
def test_results_pair_with_calls_by_id_or_name_and_order(with_ids: bool) -> None:
    req = gemini.request_to_ir(_history(with_ids))
    model, results = req.messages[1].content, req.messages[2].content
    assert model[0] == ir.Reasoning("planning", None, False, "gemini")
    assert model[1] == ir.Reasoning("", "SIG0", False, "gemini")
    calls = [p for p in model if isinstance(p, ir.ToolCall)]
    ids = [c.id for c in calls]
    assert ids == (
        ["gid-0", "gid-1", "gid-2"] if with_ids else ["call_1_1", "call_1_2", "call_1_3"]
    )
    by_id = {r.call_id: r for r in results if isinstance(r, ir.ToolResult)}
    assert by_id[ids[0]].content == (ir.Text("zero"),) and by_id[ids[0]].name == "read_file"
    assert by_id[ids[1]].content == (ir.Text("one"),)
    assert by_id[ids[2]].content == (ir.Text("g"),) and by_id[ids[2]].name == "glob"
    assert gemini.request_to_ir(_history(with_ids)) == req  # stable ids


def test_request_out_signatures_names_and_config() -> None:
    req = gemini.request_to_ir(_history(False))
    body = gemini.request_from_ir(req, "gemini-3-pro-preview", True)
    check_request("gemini", body)
    model_parts = body["contents"][1]["parts"]
    assert model_parts[0] == {
        "functionCall": {"name": "read_file", "args": {"path": "/0"}},
        "thoughtSignature": "SIG0",
    }
    assert "id" not in model_parts[0]["functionCall"]
    names = [p["functionResponse"]["name"] for p in body["contents"][2]["parts"]]
    assert names == ["read_file", "read_file", "glob"]  # results follow call order
    foreign = ir.Request(
        (
            ir.Message(U, (ir.Text("q"),)),
            ir.Message(
                A,
                (ir.Reasoning("x", "ANTH", source="anthropic"), ir.ToolCall("t1", "f", '{"a":1}')),
            ),
            ir.Message(U, (ir.ToolResult("t1", "f", (ir.Text("boom"),), True),)),
        ),
        tools=(
            ir.Tool(
                "f",
                "F",
                {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}},
                    "additionalProperties": False,
                },
            ),
        ),
        tool_choice=ir.ToolChoice("tool", "f"),
        thinking=ir.Thinking(True, 40000),
        max_tokens=1000,
        stop=("x",),
        response_format=ir.ResponseFormat(
            "json_schema", {"type": "object", "properties": {"a": {"const": 1}}}
        ),
    )
    body = gemini.request_from_ir(foreign, "gemini-2.5-flash", False)
    check_request("gemini", body, "gemini-2.5-flash")
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": SKIP_SIGNATURE}
    ]
    assert body["contents"][2]["parts"][0] == {
        "functionResponse": {"name": "f", "response": {"error": "boom"}}
    }
    assert body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
    }
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}
    }
    cfg = body["generationConfig"]
    assert cfg["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 24576}
    assert cfg["maxOutputTokens"] == 1000 and cfg["stopSequences"] == ["x"]
    assert cfg["responseMimeType"] == "application/json"
    assert (
        cfg["responseJsonSchema"]["properties"]["a"] == {"enum": ["1"], "type": "string"}
        or cfg["responseJsonSchema"]["properties"]["a"]["description"] == "Allowed: 1"
    )


def test_effort_becomes_a_thinking_level_on_gemini_3() -> None:
    req = ir.Request(
        (ir.Message(U, (ir.Text("q"),)),),
        thinking=ir.Thinking(effort="medium", include_thoughts=False),
    )
    cfg = gemini.request_from_ir(req, "gemini-3-pro-preview", True)["generationConfig"]
    assert cfg["thinkingConfig"] == {"includeThoughts": False, "thinkingLevel": "high"}


def test_invalid_requests_name_the_field() -> None:
    with pytest.raises(ir.TranslationError) as info:
        gemini.request_to_ir({"contents": [{"role": "bot", "parts": []}]})
    assert info.value.field == "contents[0].role"
    with pytest.raises(ir.TranslationError) as info:
        gemini.request_to_ir({"contents": [], "cachedContent": "cachedContents/1"})
    assert info.value.field == "cachedContent"
    with pytest.raises(ir.TranslationError) as info:
        gemini.request_to_ir(
            {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png"}}]}]}
        )
    assert info.value.field == "contents[0].parts[0].inlineData.data"


RESPONSE = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "Thinking about files", "thought": True},
                    {
                        "functionCall": {"name": "list_directory", "args": {"dir_path": "."}},
                        "thoughtSignature": "CiQB",
                    },
                    {"functionCall": {"name": "glob", "args": {"pattern": "*"}}},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 100,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "cachedContentTokenCount": 40,
        "totalTokenCount": 150,
    },
    "modelVersion": "gemini-3-pro-preview",
    "responseId": "resp-abc",
}


def test_response_round_trip() -> None:
    resp = gemini.response_to_ir(RESPONSE)
    assert resp.content == (
        ir.Reasoning("Thinking about files", None, False, "gemini"),
        ir.Reasoning("", "CiQB", False, "gemini"),
        ir.ToolCall("call_resp-abc_1", "list_directory", '{"dir_path":"."}'),
        ir.ToolCall("call_resp-abc_2", "glob", '{"pattern":"*"}'),
    )
    assert resp.stop_reason is ir.StopReason.TOOL_USE
    assert resp.usage == ir.Usage(100, 50, 40, 30)
    body = gemini.response_from_ir(resp, "alias")
    gtypes.GenerateContentResponse.model_validate(body)
    parts = body["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "Thinking about files", "thought": True}
    assert parts[1] == {
        "functionCall": {
            "id": "call_resp-abc_1",
            "name": "list_directory",
            "args": {"dir_path": "."},
        },
        "thoughtSignature": "CiQB",
    }
    assert body["usageMetadata"]["candidatesTokenCount"] == 20
    assert body["usageMetadata"]["thoughtsTokenCount"] == 30


def test_a_signature_closing_a_text_answer_round_trips() -> None:
    history = {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {
                "role": "model",
                "parts": [{"text": "Hello!"}, {"text": "", "thoughtSignature": "Q2lR"}],
            },
            {"role": "user", "parts": [{"text": "again"}]},
        ]
    }
    req = gemini.request_to_ir(history)
    assert req.messages[1].content == (ir.Text("Hello!"), ir.Reasoning("", "Q2lR", False, "gemini"))
    body = gemini.request_from_ir(req, "gemini-3-pro-preview", True)
    assert body["contents"] == history["contents"]


def test_blocked_and_truncated_answers() -> None:
    blocked = gemini.response_to_ir({"promptFeedback": {"blockReason": "SAFETY"}})
    assert blocked.stop_reason is ir.StopReason.CONTENT_FILTER and blocked.content == ()
    cut = gemini.response_to_ir(
        {"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "MAX_TOKENS"}]}
    )
    assert cut.stop_reason is ir.StopReason.MAX_TOKENS


def _chunk(
    parts: list[dict[str, Any]], finish: str | None = None, usage: dict[str, int] | None = None
) -> bytes:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    body: dict[str, Any] = {
        "candidates": [cand],
        "modelVersion": "gemini-3-pro-preview",
        "responseId": "rid",
    }
    if usage:
        body["usageMetadata"] = usage
    return sse(None, body)


UPSTREAM = b"".join(
    [
        _chunk([{"text": "**Listing** the", "thought": True}], usage={"promptTokenCount": 9}),
        _chunk([{"text": " directory", "thought": True}]),
        _chunk([{"text": "Sure, "}]),
        _chunk([{"text": "checking."}]),
        _chunk(
            [
                {
                    "functionCall": {"name": "list_directory", "args": {"dir_path": "."}},
                    "thoughtSignature": "SIG1",
                },
                {"functionCall": {"name": "glob", "args": {"pattern": "*.py"}}},
            ],
            "STOP",
            {
                "promptTokenCount": 9,
                "candidatesTokenCount": 12,
                "thoughtsTokenCount": 7,
                "totalTokenCount": 28,
            },
        ),
    ]
)


@pytest.mark.parametrize("chunk", [None, 11])
def test_decoder_on_a_real_shaped_stream(chunk: int | None) -> None:
    events = decode("gemini", UPSTREAM, chunk=chunk)
    assert events[0] == ir.StreamStart("rid", "gemini-3-pro-preview")
    assert events[-2:] == [ir.UsageEvent(ir.Usage(9, 19, 0, 7)), ir.Stop(ir.StopReason.TOOL_USE)]
    resp = ir.aggregate(events)
    assert resp.content == (
        ir.Reasoning("**Listing** the directory", None, False, None),
        ir.Text("Sure, checking."),
        ir.Reasoning("", "SIG1", False, "gemini"),
        ir.ToolCall("call_rid_0", "list_directory", '{"dir_path":"."}'),
        ir.ToolCall("call_rid_1", "glob", '{"pattern":"*.py"}'),
    )


def test_decoder_without_finish_reason_or_with_error() -> None:
    partial = UPSTREAM.rsplit(b"data: ", 1)[0]
    assert isinstance(decode("gemini", partial)[-1], ir.StreamError)
    err = sse(
        None,
        {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}},
    )
    assert decode("gemini", partial + err)[-1] == ir.StreamError(
        "The model is overloaded.", "overloaded"
    )


def test_encoder_chunks_validate_and_hold_tool_calls_until_complete() -> None:
    events: list[ir.Event] = [
        ir.StreamStart("msg_1", "claude"),
        ir.ReasoningDelta(0, "hmm"),
        ir.ReasoningSignature(0, "ANTHSIGA", source="anthropic"),
        ir.BlockEnd(0),
        ir.TextDelta(1, "Reading."),
        ir.BlockEnd(1),
        ir.ToolCallStart(2, "toolu_1", "read_file"),
        ir.ToolCallDelta(2, '{"file_'),
        ir.ToolCallDelta(2, 'path":"a"}'),
        ir.BlockEnd(2),
        ir.UsageEvent(ir.Usage(10, 5, 0, 2)),
        ir.Stop(ir.StopReason.TOOL_USE),
    ]
    data = encode("gemini", events)
    chunks = [json.loads(p) for _, p in frames(data)]
    for c in chunks:
        gtypes.GenerateContentResponse.model_validate(c)
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert parts == [
        {"text": "hmm", "thought": True},
        {"text": "", "thought": True, "thoughtSignature": "zcpaANTHQU5USFNJR0E="},
        {"text": "Reading."},
        {"functionCall": {"id": "toolu_1", "name": "read_file", "args": {"file_path": "a"}}},
    ]
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 3,
        "totalTokenCount": 15,
        "thoughtsTokenCount": 2,
    }
    # Gemini CLI echoes the history back: the anthropic thinking comes back whole.
    history = {
        "contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": parts}]
    }
    back = gemini.request_to_ir(history).messages[1].content
    assert back[0] == ir.Reasoning("hmm", "ANTHSIGA", False, "anthropic")
    assert back[2] == ir.ToolCall("toolu_1", "read_file", '{"file_path":"a"}')


def test_encoder_puts_a_text_less_signature_on_the_next_part_and_errors() -> None:
    events: list[ir.Event] = [
        ir.ReasoningSignature(0, "S", source="gemini"),
        ir.BlockEnd(0),
        ir.ToolCallStart(1, "c", "f"),
        ir.BlockEnd(1),
        ir.StreamError("gone", "rate_limit"),
    ]
    chunks = [json.loads(p) for _, p in frames(encode("gemini", events))]
    assert chunks[0]["candidates"][0]["content"]["parts"][0]["thoughtSignature"] == "S"
    assert chunks[-1] == {"error": {"code": 429, "message": "gone", "status": "RESOURCE_EXHAUSTED"}}
