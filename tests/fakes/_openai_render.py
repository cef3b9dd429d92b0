"""OpenAI answer bodies: Chat Completions and Responses, whole and streamed.

Shapes follow the platform API reference (platform.openai.com/docs/
api-reference/chat/streaming, .../responses-streaming) and the official
SDK's models: chat chunks with ``usage: null`` on every chunk plus a final
``choices: []`` usage chunk when ``stream_options.include_usage`` is set,
``obfuscation`` padding on streamed deltas, ``data: [DONE]`` at the end;
Responses events named in ``event:`` with a ``sequence_number`` from 0,
ending with ``response.completed`` (or ``response.incomplete``).
"""

from __future__ import annotations

from typing import Any

import orjson

from . import _sse
from ._base import Call, usage_of
from ._behaviours import Reply, split_text

__all__ = ["chat_json", "chat_stream", "responses_failed", "responses_json", "responses_stream"]

_CHAT_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _args(arguments: Any) -> str:
    return orjson.dumps(dict(arguments)).decode()


def _pieces(raw: str, size: int = 12) -> list[str]:
    return [raw[i : i + size] for i in range(0, len(raw), size)] or [""]


def _finish(reply: Reply) -> str:
    if reply.stop is not None:
        return _CHAT_FINISH.get(reply.stop, reply.stop)
    return "tool_calls" if reply.tool_calls else "stop"


def _chat_usage(reply: Reply, call: Call) -> dict[str, Any]:
    tokens_in, tokens_out = usage_of(reply, call)
    return {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": len(reply.thinking or "") // 4,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_json(reply: Reply, call: Call, reasoning_field: str | None) -> bytes:
    """A ``chat.completion`` object."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text if reply.text or not reply.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if reply.thinking is not None and reasoning_field:
        message[reasoning_field] = reply.thinking
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": t.id,
                "type": "function",
                "function": {"name": t.name, "arguments": _args(t.arguments)},
            }
            for t in reply.tool_calls
        ]
    return orjson.dumps(
        {
            "id": "chatcmpl-" + call.rid,
            "object": "chat.completion",
            "created": call.created,
            "model": reply.model or call.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
            ],
            "usage": _chat_usage(reply, call),
            "service_tier": "default",
            "system_fingerprint": "fp_" + call.rid[:10],
        }
    )


def chat_stream(reply: Reply, call: Call, reasoning_field: str | None) -> list[bytes]:
    """``chat.completion.chunk`` events, then ``data: [DONE]``."""
    options = call.body.get("stream_options")
    options = options if isinstance(options, dict) else {}
    include_usage = options.get("include_usage") is True
    obfuscate = options.get("include_obfuscation") is not False
    base: dict[str, Any] = {
        "id": "chatcmpl-" + call.rid,
        "object": "chat.completion.chunk",
        "created": call.created,
        "model": reply.model or call.model,
        "service_tier": "default",
        "system_fingerprint": "fp_" + call.rid[:10],
    }
    frames: list[bytes] = []

    def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
        payload = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            payload["usage"] = None
        if obfuscate:
            payload["obfuscation"] = call.rid[: 1 + len(frames) % 9]
        frames.append(_sse.unnamed(payload))

    tools = reply.tool_calls
    text_first = bool(reply.text) or not tools or reply.thinking is not None
    if text_first:
        chunk({"role": "assistant", "content": "", "refusal": None})
    if reply.thinking is not None and reasoning_field:
        for piece in split_text(reply.thinking, reply.chunks):
            chunk({reasoning_field: piece})
    for piece in split_text(reply.text, reply.chunks):
        chunk({"content": piece})
    for index, tool in enumerate(tools):
        head = {
            "index": index,
            "id": tool.id,
            "type": "function",
            "function": {"name": tool.name, "arguments": ""},
        }
        if index == 0 and not text_first:
            chunk({"role": "assistant", "content": None, "tool_calls": [head], "refusal": None})
        else:
            chunk({"tool_calls": [head]})
        for piece in _pieces(_args(tool.arguments)):
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    chunk({}, _finish(reply))
    if include_usage:
        payload = {**base, "choices": [], "usage": _chat_usage(reply, call)}
        if obfuscate:
            payload["obfuscation"] = call.rid[:4]
        frames.append(_sse.unnamed(payload))
    frames.append(_sse.DONE)
    return frames


# -- Responses ---------------------------------------------------------------


def _wants_summary(call: Call) -> bool:
    reasoning = call.body.get("reasoning")
    return isinstance(reasoning, dict) and bool(reasoning.get("summary"))


def _wants_encrypted(call: Call) -> bool:
    include = call.body.get("include")
    return isinstance(include, list) and "reasoning.encrypted_content" in include


def _status(reply: Reply) -> tuple[str, dict[str, str] | None]:
    if reply.stop in ("max_tokens", "length", "max_output_tokens"):
        return "incomplete", {"reason": "max_output_tokens"}
    if reply.stop in ("refusal", "content_filter"):
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _output(reply: Reply, call: Call) -> list[dict[str, Any]]:
    """The finished output items, in the order they stream."""
    items: list[dict[str, Any]] = []
    if reply.thinking is not None:
        item: dict[str, Any] = {
            "id": "rs_" + call.rid,
            "type": "reasoning",
            "summary": (
                [{"type": "summary_text", "text": reply.thinking}] if _wants_summary(call) else []
            ),
        }
        if _wants_encrypted(call):
            item["encrypted_content"] = "gAAAAAB" + call.rid * 4
        items.append(item)
    if reply.text or not reply.tool_calls:
        items.append(
            {
                "id": "msg_" + call.rid,
                "type": "message",
                "status": "completed",
                "content": [
                    {"type": "output_text", "annotations": [], "logprobs": [], "text": reply.text}
                ],
                "role": "assistant",
            }
        )
    for n, tool in enumerate(reply.tool_calls):
        items.append(
            {
                "id": f"fc_{call.rid}{n:02d}",
                "type": "function_call",
                "status": "completed",
                "arguments": _args(tool.arguments),
                "call_id": tool.id,
                "name": tool.name,
            }
        )
    return items


def _response(
    reply: Reply, call: Call, status: str, output: list[Any], done: bool
) -> dict[str, Any]:
    body = call.body
    final_status, incomplete = _status(reply) if done else ("in_progress", None)
    tokens_in, tokens_out = usage_of(reply, call)
    reasoning = body.get("reasoning")
    if not isinstance(reasoning, dict):
        reasoning = {}
    return {
        "id": "resp_" + call.rid,
        "object": "response",
        "created_at": call.created,
        "status": final_status if done else status,
        "background": False,
        "completed_at": call.created if done and final_status == "completed" else None,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": reply.model or call.model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {
            "effort": reasoning.get("effort", "medium"),
            "summary": reasoning.get("summary"),
        },
        "safety_identifier": None,
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_logprobs": 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": (
            {
                "input_tokens": tokens_in,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": tokens_out,
                "output_tokens_details": {"reasoning_tokens": len(reply.thinking or "") // 4},
                "total_tokens": tokens_in + tokens_out,
            }
            if done
            else None
        ),
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def responses_json(reply: Reply, call: Call) -> bytes:
    """A finished ``response`` object."""
    return orjson.dumps(_response(reply, call, "completed", _output(reply, call), True))


def responses_stream(reply: Reply, call: Call) -> list[bytes]:
    """The Responses semantic event sequence for ``reply``."""
    frames: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        frames.append(_sse.event(kind, {"type": kind, "sequence_number": len(frames), **fields}))

    emit("response.created", response=_response(reply, call, "in_progress", [], False))
    emit("response.in_progress", response=_response(reply, call, "in_progress", [], False))
    output = _output(reply, call)
    for index, item in enumerate(output):
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            for s, part in enumerate(item["summary"]):
                emit(
                    "response.reasoning_summary_part.added",
                    **ids,
                    summary_index=s,
                    part={"type": "summary_text", "text": ""},
                )
                for piece in split_text(part["text"], reply.chunks):
                    emit(
                        "response.reasoning_summary_text.delta",
                        **ids,
                        summary_index=s,
                        delta=piece,
                        obfuscation=call.rid[:6],
                    )
                emit(
                    "response.reasoning_summary_text.done",
                    **ids,
                    summary_index=s,
                    text=part["text"],
                )
                emit("response.reasoning_summary_part.done", **ids, summary_index=s, part=part)
        elif item["type"] == "message":
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            part = item["content"][0]
            emit("response.content_part.added", **ids, content_index=0, part={**part, "text": ""})
            for piece in split_text(part["text"], reply.chunks):
                emit(
                    "response.output_text.delta",
                    **ids,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                    obfuscation=call.rid[:6],
                )
            emit(
                "response.output_text.done", **ids, content_index=0, text=part["text"], logprobs=[]
            )
            emit("response.content_part.done", **ids, content_index=0, part=part)
        else:
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            for piece in _pieces(item["arguments"]):
                emit(
                    "response.function_call_arguments.delta",
                    **ids,
                    delta=piece,
                    obfuscation=call.rid[:6],
                )
            emit("response.function_call_arguments.done", **ids, arguments=item["arguments"])
        emit("response.output_item.done", output_index=index, item=item)
    final = _response(reply, call, "completed", output, True)
    emit(
        "response.completed" if final["status"] == "completed" else "response.incomplete",
        response=final,
    )
    return frames


def responses_failed(call: Call, code: str, message: str, sequence: int) -> bytes:
    """The ``response.failed`` event ending a stream that broke upstream."""
    response = _response(Reply(), call, "failed", [], False)
    response["error"] = {"code": code, "message": message}
    event = {"type": "response.failed", "sequence_number": sequence, "response": response}
    return _sse.event("response.failed", event)
