"""A scripted agent loop in every format: client requests, upstream replies,
and what a client appends to its history, as the real clients do."""

from __future__ import annotations

import copy
import json
from typing import Any

from router.formats import CODECS, Context, ir

from ._support import MODELS, decode, encode

TOOL_SCHEMA = {"type": "object", "properties": {"dir": {"type": "string"}}, "required": ["dir"]}
QUESTION = "List the files in a and b"


def initial_request(fmt: str) -> dict[str, Any]:
    if fmt == "anthropic":
        return {
            "model": "client-model",
            "max_tokens": 4096,
            "system": "You are terse.",
            "messages": [{"role": "user", "content": QUESTION}],
            "tools": [
                {"name": "list_files", "description": "List files", "input_schema": TOOL_SCHEMA}
            ],
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        }
    if fmt == "openai":
        return {
            "model": "client-model",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": QUESTION},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "list_files",
                        "description": "List files",
                        "parameters": TOOL_SCHEMA,
                    },
                }
            ],
            "reasoning_effort": "low",
        }
    if fmt == "responses":
        return {
            "model": "client-model",
            "instructions": "You are terse.",
            "input": [{"role": "user", "content": QUESTION}],
            "tools": [
                {
                    "type": "function",
                    "name": "list_files",
                    "description": "List files",
                    "parameters": TOOL_SCHEMA,
                }
            ],
            "reasoning": {"effort": "low", "summary": "auto"},
        }
    return {
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [{"role": "user", "parts": [{"text": QUESTION}]}],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "list_files",
                        "description": "List files",
                        "parametersJsonSchema": TOOL_SCHEMA,
                    }
                ]
            }
        ],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}},
    }


SIGNATURES = {"anthropic": "ANTHSIGA", "responses": "gAAAAABr", "gemini": "R0VNSVNJRw=="}


def upstream_tool_reply(fmt: str) -> dict[str, Any]:
    """The upstream's first answer: reasoning (signed), text, two parallel calls."""
    if fmt == "anthropic":
        return {
            "id": "msg_up",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "plan", "signature": SIGNATURES["anthropic"]},
                {"type": "text", "text": "Listing."},
                {
                    "type": "tool_use",
                    "id": "toolu_up1",
                    "name": "list_files",
                    "input": {"dir": "a"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_up2",
                    "name": "list_files",
                    "input": {"dir": "b"},
                },
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 5},
        }
    if fmt == "openai":
        return {
            "id": "chatcmpl-up",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": "Listing.",
                        "reasoning_content": "plan",
                        "tool_calls": [
                            {
                                "id": "call_up1",
                                "type": "function",
                                "function": {"name": "list_files", "arguments": '{"dir":"a"}'},
                            },
                            {
                                "id": "call_up2",
                                "type": "function",
                                "function": {"name": "list_files", "arguments": '{"dir":"b"}'},
                            },
                        ],
                    },
                }
            ],
            "usage": {"prompt_tokens": 15, "completion_tokens": 20, "total_tokens": 35},
        }
    if fmt == "responses":
        return {
            "id": "resp_up",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": "gpt-5",
            "output": [
                {
                    "id": "rs_1",
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "plan"}],
                    "encrypted_content": SIGNATURES["responses"],
                },
                {
                    "id": "msg_1",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Listing.", "annotations": []}],
                },
                {
                    "id": "fc_1",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": "call_up1",
                    "name": "list_files",
                    "arguments": '{"dir":"a"}',
                },
                {
                    "id": "fc_2",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": "call_up2",
                    "name": "list_files",
                    "arguments": '{"dir":"b"}',
                },
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 15,
                "input_tokens_details": {"cached_tokens": 5},
                "output_tokens": 20,
                "output_tokens_details": {"reasoning_tokens": 8},
                "total_tokens": 35,
            },
        }
    return {
        "candidates": [
            {
                "index": 0,
                "finishReason": "STOP",
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "plan", "thought": True},
                        {"text": "Listing."},
                        {
                            "functionCall": {"name": "list_files", "args": {"dir": "a"}},
                            "thoughtSignature": SIGNATURES["gemini"],
                        },
                        {"functionCall": {"name": "list_files", "args": {"dir": "b"}}},
                    ],
                },
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 15,
            "candidatesTokenCount": 12,
            "thoughtsTokenCount": 8,
            "totalTokenCount": 35,
        },
        "modelVersion": "gemini-3-pro-preview",
        "responseId": "gresp",
    }


def upstream_text_reply(fmt: str) -> dict[str, Any]:
    text = "a has x; b has y."
    if fmt == "anthropic":
        return {
            "id": "msg_2",
            "type": "message",
            "role": "assistant",
            "model": "c",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 30, "output_tokens": 5},
        }
    if fmt == "openai":
        return {
            "id": "c2",
            "object": "chat.completion",
            "created": 1,
            "model": "g",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35},
        }
    if fmt == "responses":
        return {
            "id": "resp_2",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": "g",
            "output": [
                {
                    "id": "m",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    return {
        "candidates": [
            {
                "index": 0,
                "finishReason": "STOP",
                "content": {"role": "model", "parts": [{"text": text}]},
            }
        ]
    }


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


def through(
    client: str, upstream: str, upstream_body: dict[str, Any], req: ir.Request, stream: bool
) -> dict[str, Any]:
    """Upstream answer -> what the client ends up holding (its non-stream body)."""
    ctx = Context("client-model", tools=req.tools)
    up = CODECS[upstream]
    if not stream:
        return CODECS[client].response_from_ir(up.response_to_ir(upstream_body), ctx)
    upstream_sse = encode(
        upstream, events_of(up.response_to_ir(upstream_body)), model=MODELS[upstream]
    )
    events = decode(upstream, upstream_sse)
    client_sse = encode(client, events, tools=req.tools)
    resp = ir.aggregate(decode(client, client_sse))
    return CODECS[client].response_from_ir(resp, ctx)


RESULTS = {"a": "files in a: x", "b": "files in b: y"}


def continue_conversation(fmt: str, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The client appends the assistant turn and runs the tools, as real clients do."""
    body = copy.deepcopy(body)
    if fmt == "anthropic":
        content = answer["content"]
        body["messages"].append({"role": "assistant", "content": content})
        body["messages"].append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": b["id"],
                        "content": RESULTS[b["input"]["dir"]],
                    }
                    for b in content
                    if b["type"] == "tool_use"
                ],
            }
        )
    elif fmt == "openai":
        message = answer["choices"][0]["message"]
        body["messages"].append(message)
        for call in message["tool_calls"]:
            args = json.loads(call["function"]["arguments"])
            body["messages"].append(
                {"role": "tool", "tool_call_id": call["id"], "content": RESULTS[args["dir"]]}
            )
    elif fmt == "responses":
        body["input"] += answer["output"]
        for item in answer["output"]:
            if item["type"] == "function_call":
                args = json.loads(item["arguments"])
                body["input"].append(
                    {
                        "type": "function_call_output",
                        "call_id": item["call_id"],
                        "output": RESULTS[args["dir"]],
                    }
                )
    else:
        content = answer["candidates"][0]["content"]
        body["contents"].append(content)
        parts = []
        for p in content["parts"]:
            if "functionCall" in p:
                fc = p["functionCall"]
                parts.append(
                    {
                        "functionResponse": {
                            "id": fc.get("id"),
                            "name": fc["name"],
                            "response": {"output": RESULTS[fc["args"]["dir"]]},
                        }
                    }
                )
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
        pairs = [
            (calls[b["tool_use_id"]], b["content"])
            for b in msgs[2]["content"]
            if b["type"] == "tool_result"
        ]
    elif fmt == "openai":
        assistant = next(m for m in body["messages"] if m["role"] == "assistant")
        calls = {
            c["id"]: json.loads(c["function"]["arguments"])["dir"] for c in assistant["tool_calls"]
        }
        ids = list(calls)
        pairs = [
            (calls[m["tool_call_id"]], m["content"])
            for m in body["messages"]
            if m["role"] == "tool"
        ]
    elif fmt == "responses":
        items = body["input"]
        calls = {
            i["call_id"]: json.loads(i["arguments"])["dir"]
            for i in items
            if i["type"] == "function_call"
        }
        ids = list(calls)
        sigs = [i["encrypted_content"] for i in items if i["type"] == "reasoning"]
        pairs = [
            (calls[i["call_id"]], i["output"]) for i in items if i["type"] == "function_call_output"
        ]
    else:
        model, user = body["contents"][1], body["contents"][2]
        fcs = [p for p in model["parts"] if "functionCall" in p]
        sigs = [p["thoughtSignature"] for p in model["parts"] if "thoughtSignature" in p]
        frs = [p["functionResponse"] for p in user["parts"] if "functionResponse" in p]
        pairs = [
            (fc["functionCall"]["args"]["dir"], fr["response"]["output"])
            for fc, fr in zip(fcs, frs, strict=True)
        ]
    return pairs, ids, sigs


UPSTREAM_IDS = {
    "anthropic": ["toolu_up1", "toolu_up2"],
    "openai": ["call_up1", "call_up2"],
    "responses": ["call_up1", "call_up2"],
}
