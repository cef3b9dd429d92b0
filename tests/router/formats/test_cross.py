"""Every client format against every upstream format.

* the captured client requests translate into a body each upstream accepts;
* a full agent loop (tool call, tool result, answer) runs through all sixteen
  client/upstream pairs, streaming and not: ids stay paired, parallel calls
  keep their results, and the upstream's reasoning signature comes back to it
  in its own field after travelling through the client's format.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from router.formats import ir

from ._support import (
    CLIENT_FIXTURES,
    FORMATS,
    MODELS,
    MODULES,
    check_request,
    decode,
    encode,
    fixture_body,
)

# --------------------------------------------------------------------------- fixtures


def _tool_pairs(fmt: str, body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(call ids/names in order, result ids/names in order) of a request body."""
    calls: list[str] = []
    results: list[str] = []
    if fmt == "anthropic":
        for m in body["messages"]:
            for b in m["content"]:
                if b["type"] == "tool_use":
                    calls.append(b["id"])
                elif b["type"] == "tool_result":
                    results.append(b["tool_use_id"])
    elif fmt == "openai_chat":
        for m in body["messages"]:
            calls += [c["id"] for c in m.get("tool_calls") or []]
            if m["role"] == "tool":
                results.append(m["tool_call_id"])
    elif fmt == "responses":
        for item in body["input"]:
            if item["type"] == "function_call":
                calls.append(item["call_id"])
            elif item["type"] == "function_call_output":
                results.append(item["call_id"])
    else:
        for c in body["contents"]:
            for p in c["parts"]:
                if "functionCall" in p:
                    calls.append(p["functionCall"]["name"])
                elif "functionResponse" in p:
                    results.append(p["functionResponse"]["name"])
    return calls, results


@pytest.mark.parametrize("target", FORMATS)
@pytest.mark.parametrize("fixture", list(CLIENT_FIXTURES))
def test_captured_client_requests_translate_for_every_upstream(fixture: str, target: str) -> None:
    source = CLIENT_FIXTURES[fixture][0]
    req = MODULES[source].request_to_ir(fixture_body(fixture))
    for stream in (True, False):
        body = MODULES[target].request_from_ir(req, MODELS[target], stream)
        check_request(target, body)
    n_tools = len(req.tools)
    if target == "anthropic":
        assert len(body.get("tools", [])) == n_tools
        assert all(t["input_schema"]["type"] == "object" for t in body.get("tools", []))
    elif target == "gemini":
        if n_tools:
            assert len(body["tools"][0]["functionDeclarations"]) == n_tools
        assert "systemInstruction" in body
    elif target == "openai_chat":
        assert body["messages"][0]["role"] == "system"
    calls, results = _tool_pairs(target, body)
    assert calls == results
    if fixture == "claude-code-turn2":
        assert calls == (["Bash"] if target == "gemini" else ["toolu_01"])


# --------------------------------------------------------------------------- agent loop

TOOL_SCHEMA = {"type": "object", "properties": {"dir": {"type": "string"}}, "required": ["dir"]}
QUESTION = "List the files in a and b"


def initial_request(fmt: str) -> dict[str, Any]:
    if fmt == "anthropic":
        return {
            "model": "client-model",
            "max_tokens": 4096,
            "system": "You are terse.",
            "messages": [{"role": "user", "content": QUESTION}],
            "tools": [{"name": "list_files", "description": "List files", "input_schema": TOOL_SCHEMA}],
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        }
    if fmt == "openai_chat":
        return {
            "model": "client-model",
            "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": QUESTION}],
            "tools": [{"type": "function", "function": {"name": "list_files", "description": "List files", "parameters": TOOL_SCHEMA}}],
            "reasoning_effort": "low",
        }
    if fmt == "responses":
        return {
            "model": "client-model",
            "instructions": "You are terse.",
            "input": [{"role": "user", "content": QUESTION}],
            "tools": [{"type": "function", "name": "list_files", "description": "List files", "parameters": TOOL_SCHEMA}],
            "reasoning": {"effort": "low", "summary": "auto"},
        }
    return {
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [{"role": "user", "parts": [{"text": QUESTION}]}],
        "tools": [{"functionDeclarations": [{"name": "list_files", "description": "List files", "parametersJsonSchema": TOOL_SCHEMA}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}},
    }


SIGNATURES = {"anthropic": "ANTHSIGA", "responses": "gAAAAABr", "gemini": "R0VNSVNJRw=="}


def upstream_tool_reply(fmt: str) -> dict[str, Any]:
    """The upstream's first answer: reasoning (signed), text, two parallel calls."""
    if fmt == "anthropic":
        return {
            "id": "msg_up", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "plan", "signature": SIGNATURES["anthropic"]},
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_up1", "name": "list_files", "input": {"dir": "a"}},
                {"type": "tool_use", "id": "toolu_up2", "name": "list_files", "input": {"dir": "b"}},
            ],
            "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 5},
        }
    if fmt == "openai_chat":
        return {
            "id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Listing.", "reasoning_content": "plan",
                "tool_calls": [
                    {"id": "call_up1", "type": "function", "function": {"name": "list_files", "arguments": '{"dir":"a"}'}},
                    {"id": "call_up2", "type": "function", "function": {"name": "list_files", "arguments": '{"dir":"b"}'}},
                ]}}],
            "usage": {"prompt_tokens": 15, "completion_tokens": 20, "total_tokens": 35},
        }
    if fmt == "responses":
        return {
            "id": "resp_up", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5",
            "output": [
                {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "plan"}], "encrypted_content": SIGNATURES["responses"]},
                {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "Listing.", "annotations": []}]},
                {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_up1", "name": "list_files", "arguments": '{"dir":"a"}'},
                {"id": "fc_2", "type": "function_call", "status": "completed", "call_id": "call_up2", "name": "list_files", "arguments": '{"dir":"b"}'},
            ],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": {"input_tokens": 15, "input_tokens_details": {"cached_tokens": 5}, "output_tokens": 20,
                      "output_tokens_details": {"reasoning_tokens": 8}, "total_tokens": 35},
        }
    return {
        "candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
            {"text": "plan", "thought": True},
            {"text": "Listing."},
            {"functionCall": {"name": "list_files", "args": {"dir": "a"}}, "thoughtSignature": SIGNATURES["gemini"]},
            {"functionCall": {"name": "list_files", "args": {"dir": "b"}}},
        ]}}],
        "usageMetadata": {"promptTokenCount": 15, "candidatesTokenCount": 12, "thoughtsTokenCount": 8, "totalTokenCount": 35},
        "modelVersion": "gemini-3-pro-preview", "responseId": "gresp",
    }


def upstream_text_reply(fmt: str) -> dict[str, Any]:
    text = "a has x; b has y."
    if fmt == "anthropic":
        return {"id": "msg_2", "type": "message", "role": "assistant", "model": "c", "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 30, "output_tokens": 5}}
    if fmt == "openai_chat":
        return {"id": "c2", "object": "chat.completion", "created": 1, "model": "g", "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35}}
    if fmt == "responses":
        return {"id": "resp_2", "object": "response", "created_at": 1, "status": "completed", "model": "g", "output": [
            {"id": "m", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]}],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    return {"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [{"text": text}]}}]}


def events_of(resp: ir.Response) -> list[ir.Event]:
    """A plausible stream for a response: text split in two, args split in two."""
    out: list[ir.Event] = [ir.StreamStart(resp.id, resp.model)]
    for i, part in enumerate(resp.content):
        if isinstance(part, ir.Text):
            half = len(part.text) // 2
            out += [ir.TextDelta(i, part.text[:half]), ir.TextDelta(i, part.text[half:])]
        elif isinstance(part, ir.Reasoning):
            if part.text:
                out.append(ir.ReasoningDelta(i, part.text))
            if part.signature:
                out.append(ir.ReasoningSignature(i, part.signature, part.redacted, part.source))
        elif isinstance(part, ir.ToolCall):
            half = len(part.arguments) // 2
            out += [
                ir.ToolCallStart(i, part.id, part.name),
                ir.ToolCallDelta(i, part.arguments[:half]),
                ir.ToolCallDelta(i, part.arguments[half:]),
            ]
        out.append(ir.BlockEnd(i))
    return out + [ir.UsageEvent(resp.usage), ir.Stop(resp.stop_reason)]


def through(client: str, upstream: str, upstream_body: dict[str, Any], req: ir.Request, stream: bool) -> dict[str, Any]:
    """Upstream answer -> what the client ends up holding (its non-stream body)."""
    kw: dict[str, Any] = {"tools": req.tools} if client == "responses" else {}
    up = MODULES[upstream]
    if not stream:
        return MODULES[client].response_from_ir(up.response_to_ir(upstream_body), "client-model", **kw)  # type: ignore[no-any-return]
    upstream_sse = encode(upstream, events_of(up.response_to_ir(upstream_body)), model=MODELS[upstream])
    events = decode(upstream, upstream_sse)
    client_sse = encode(client, events, **kw)
    resp = ir.aggregate(decode(client, client_sse))
    return MODULES[client].response_from_ir(resp, "client-model", **kw)  # type: ignore[no-any-return]


RESULTS = {"a": "files in a: x", "b": "files in b: y"}


def continue_conversation(fmt: str, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The client appends the assistant turn and runs the tools, as real clients do."""
    body = copy.deepcopy(body)
    if fmt == "anthropic":
        content = answer["content"]
        body["messages"].append({"role": "assistant", "content": content})
        body["messages"].append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": b["id"], "content": RESULTS[b["input"]["dir"]]}
            for b in content if b["type"] == "tool_use"
        ]})
    elif fmt == "openai_chat":
        message = answer["choices"][0]["message"]
        body["messages"].append(message)
        for call in message["tool_calls"]:
            args = json.loads(call["function"]["arguments"])
            body["messages"].append({"role": "tool", "tool_call_id": call["id"], "content": RESULTS[args["dir"]]})
    elif fmt == "responses":
        body["input"] += answer["output"]
        for item in answer["output"]:
            if item["type"] == "function_call":
                args = json.loads(item["arguments"])
                body["input"].append({"type": "function_call_output", "call_id": item["call_id"], "output": RESULTS[args["dir"]]})
    else:
        content = answer["candidates"][0]["content"]
        body["contents"].append(content)
        parts = []
        for p in content["parts"]:
            if "functionCall" in p:
                fc = p["functionCall"]
                parts.append({"functionResponse": {"id": fc.get("id"), "name": fc["name"], "response": {"output": RESULTS[fc["args"]["dir"]]}}})
        body["contents"].append({"role": "user", "parts": parts})
    return body


def replayed(fmt: str, body: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """From an upstream request: ((dir, result) pairs, call ids, replayed signatures)."""
    pairs: list[tuple[str, str]] = []
    ids: list[str] = []
    sigs: list[str] = []
    if fmt == "anthropic":
        msgs = body["messages"]
        calls = {b["id"]: b["input"]["dir"] for b in msgs[1]["content"] if b["type"] == "tool_use"}
        ids = list(calls)
        sigs = [b["signature"] for b in msgs[1]["content"] if b["type"] == "thinking"]
        pairs = [(calls[b["tool_use_id"]], b["content"]) for b in msgs[2]["content"] if b["type"] == "tool_result"]
    elif fmt == "openai_chat":
        assistant = next(m for m in body["messages"] if m["role"] == "assistant")
        calls = {c["id"]: json.loads(c["function"]["arguments"])["dir"] for c in assistant["tool_calls"]}
        ids = list(calls)
        pairs = [(calls[m["tool_call_id"]], m["content"]) for m in body["messages"] if m["role"] == "tool"]
    elif fmt == "responses":
        items = body["input"]
        calls = {i["call_id"]: json.loads(i["arguments"])["dir"] for i in items if i["type"] == "function_call"}
        ids = list(calls)
        sigs = [i["encrypted_content"] for i in items if i["type"] == "reasoning"]
        pairs = [(calls[i["call_id"]], i["output"]) for i in items if i["type"] == "function_call_output"]
    else:
        model, user = body["contents"][1], body["contents"][2]
        fcs = [p for p in model["parts"] if "functionCall" in p]
        sigs = [p["thoughtSignature"] for p in model["parts"] if "thoughtSignature" in p]
        frs = [p["functionResponse"] for p in user["parts"] if "functionResponse" in p]
        pairs = [(fc["functionCall"]["args"]["dir"], fr["response"]["output"]) for fc, fr in zip(fcs, frs, strict=True)]
    return pairs, ids, sigs


UPSTREAM_IDS = {
    "anthropic": ["toolu_up1", "toolu_up2"],
    "openai_chat": ["call_up1", "call_up2"],
    "responses": ["call_up1", "call_up2"],
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("upstream", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_agent_loop(client: str, upstream: str, stream: bool) -> None:
    cmod, umod = MODULES[client], MODULES[upstream]
    first = initial_request(client)
    req = cmod.request_to_ir(first)
    check_request(upstream, umod.request_from_ir(req, MODELS[upstream], stream))

    answer = through(client, upstream, upstream_tool_reply(upstream), req, stream)
    second = continue_conversation(client, first, answer)
    req2 = cmod.request_to_ir(second)
    body2 = umod.request_from_ir(req2, MODELS[upstream], stream)
    check_request(upstream, body2)

    pairs, ids, sigs = replayed(upstream, body2)
    assert pairs == [("a", RESULTS["a"]), ("b", RESULTS["b"])]
    if upstream in UPSTREAM_IDS:
        assert ids == UPSTREAM_IDS[upstream]  # the client saw and sent back the upstream's ids
    if upstream in SIGNATURES:
        lost = upstream == "anthropic" and client == "openai_chat"  # Chat cannot carry thinking text
        assert sigs == ([] if lost else [SIGNATURES[upstream]])
        if upstream == "anthropic":
            assert ("thinking" in body2) is not lost

    final = through(client, upstream, upstream_text_reply(upstream), req2, stream)
    resp = cmod.response_to_ir(final)
    assert resp.content == (ir.Text("a has x; b has y."),)
    assert resp.stop_reason is ir.StopReason.END_TURN


def test_gemini_client_without_ids_still_pairs_by_name_and_order() -> None:
    first = initial_request("gemini")
    answer = through("gemini", "anthropic", upstream_tool_reply("anthropic"), MODULES["gemini"].request_to_ir(first), False)
    for part in answer["candidates"][0]["content"]["parts"]:
        part.get("functionCall", {}).pop("id", None)
    second = continue_conversation("gemini", first, answer)
    for part in second["contents"][-1]["parts"]:
        part["functionResponse"].pop("id")
    body = MODULES["anthropic"].request_from_ir(MODULES["gemini"].request_to_ir(second), "claude", False)
    check_request("anthropic", body)
    pairs, ids, _ = replayed("anthropic", body)
    assert pairs == [("a", RESULTS["a"]), ("b", RESULTS["b"])]
    assert ids == ["call_1_2", "call_1_3"]  # positional: turn 1, parts 2 and 3
