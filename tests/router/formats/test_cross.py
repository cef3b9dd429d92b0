"""Every client format against every upstream format.

* the captured client requests translate into a body each upstream accepts;
* a full agent loop (tool call, tool result, answer) runs through all sixteen
  client/upstream pairs, streaming and not: ids stay paired, parallel calls
  keep their results, and the upstream's reasoning signature comes back to it
  in its own field after travelling through the client's format.
"""

from __future__ import annotations

from typing import Any

import pytest

from router.formats import CODECS, ir

from ._loop import (
    RESULTS,
    SIGNATURES,
    UPSTREAM_IDS,
    continue_conversation,
    initial_request,
    replayed,
    through,
    upstream_text_reply,
    upstream_tool_reply,
)
from ._support import (
    CLIENT_FIXTURES,
    FORMATS,
    MODELS,
    check_request,
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
    elif fmt == "openai":
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
    req = CODECS[source].request_to_ir(fixture_body(fixture))
    for stream in (True, False):
        body = CODECS[target].request_from_ir(req, MODELS[target], stream).data
        check_request(target, body)
    n_tools = len(req.tools)
    if target == "anthropic":
        assert len(body.get("tools", [])) == n_tools
        assert all(t["input_schema"]["type"] == "object" for t in body.get("tools", []))
    elif target == "gemini":
        if n_tools:
            assert len(body["tools"][0]["functionDeclarations"]) == n_tools
        assert "systemInstruction" in body
    elif target == "openai":
        assert body["messages"][0]["role"] == "system"
    calls, results = _tool_pairs(target, body)
    assert calls == results
    if fixture == "claude-code-turn2":
        assert calls == (["Bash"] if target == "gemini" else ["toolu_01"])


# --------------------------------------------------------------------------- agent loop


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("upstream", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_agent_loop(client: str, upstream: str, stream: bool) -> None:
    cmod, umod = CODECS[client], CODECS[upstream]
    first = initial_request(client)
    req = cmod.request_to_ir(first)
    check_request(upstream, umod.request_from_ir(req, MODELS[upstream], stream).data)

    answer = through(client, upstream, upstream_tool_reply(upstream), req, stream)
    second = continue_conversation(client, first, answer)
    req2 = cmod.request_to_ir(second)
    body2 = umod.request_from_ir(req2, MODELS[upstream], stream).data
    check_request(upstream, body2)

    pairs, ids, sigs = replayed(upstream, body2)
    assert pairs == [("a", RESULTS["a"]), ("b", RESULTS["b"])]
    if upstream in UPSTREAM_IDS:
        assert ids == UPSTREAM_IDS[upstream]  # the client saw and sent back the upstream's ids
    if upstream in SIGNATURES:
        lost = upstream == "anthropic" and client == "openai"  # Chat cannot carry thinking text
        assert sigs == ([] if lost else [SIGNATURES[upstream]])
        if upstream == "anthropic":
            assert ("thinking" in body2) is not lost
        if upstream == "responses":  # the upstream's item id travels with its encrypted content
            item_id = "rs_req1_0" if stream else "rs_1"  # the simulated SSE upstream names its own
            assert [i["id"] for i in body2["input"] if i["type"] == "reasoning"] == [item_id]

    final = through(client, upstream, upstream_text_reply(upstream), req2, stream)
    resp = cmod.response_to_ir(final)
    assert resp.content == (ir.Text("a has x; b has y."),)
    assert resp.stop_reason is ir.StopReason.END_TURN


def test_gemini_client_without_ids_still_pairs_by_name_and_order() -> None:
    first = initial_request("gemini")
    answer = through(
        "gemini",
        "anthropic",
        upstream_tool_reply("anthropic"),
        CODECS["gemini"].request_to_ir(first),
        False,
    )
    for part in answer["candidates"][0]["content"]["parts"]:
        part.get("functionCall", {}).pop("id", None)
    second = continue_conversation("gemini", first, answer)
    for part in second["contents"][-1]["parts"]:
        part["functionResponse"].pop("id")
    body = (
        CODECS["anthropic"]
        .request_from_ir(CODECS["gemini"].request_to_ir(second), "claude", False)
        .data
    )
    check_request("anthropic", body)
    pairs, ids, _ = replayed("anthropic", body)
    assert pairs == [("a", RESULTS["a"]), ("b", RESULTS["b"])]
    assert ids == ["call_1_2", "call_1_3"]  # positional: turn 1, parts 2 and 3


MALFORMED_EVENTS = {
    "anthropic": ("message_start", b'{"type":"message_start","message":[1]}'),
    "openai": (None, b'{"choices":[{"index":0,"delta":{"tool_calls":7}}]}'),
    "gemini": (None, b'{"candidates":[{"content":{"parts":3.5}}]}'),
    "responses": ("response.created", b'{"type":"response.created","response":"x"}'),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_malformed_upstream_is_an_error_not_a_crash(fmt: str) -> None:
    decoder = CODECS[fmt].stream_decoder()
    event, data = MALFORMED_EVENTS[fmt]
    out = decoder.feed(event, data)
    assert isinstance(out[-1], ir.StreamError) and "malformed" in out[-1].message
    assert decoder.feed(event, data) == [] and decoder.finish() == []
    with pytest.raises(ir.TranslationError) as info:
        CODECS[fmt].response_to_ir(
            {"content": 5, "choices": [3], "candidates": [{"content": 1}], "output": [7]}
        )
    assert info.value.field
