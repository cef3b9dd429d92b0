"""Agent tool loops and reasoning through every client/upstream pair.

The fake upstream calls a tool; the test answers in the client's own format,
built from what its SDK received; the fake validates the second request as
the real API does (ids paired, results right after their calls, Gemini 3
thought signatures) and answers with text.
"""

from __future__ import annotations

import base64
import re
from contextlib import AsyncExitStack
from typing import Any

import pytest

from tests.fakes import Reply, ToolCall, thinking_signature, thought_signature

from ._matrix import CLIENTS, STOPS, UPSTREAMS, calls_sent, result_key, results_sent, start_matrix

PAIRS = [(c, u) for c in CLIENTS for u in UPSTREAMS]
WEATHER = {"Paris": "sunny, 21C", 'Tōkyō "東京"': "rain, 14C", None: "no city given"}
THOUGHT = "The user wants the weather; I should call get_weather."
# What the upstream model calls: one tool; the same tool twice in parallel (after
# some text; Gemini can only pair these by order); a call without arguments.
CALLS = {
    "one-call": ("", [ToolCall("call_w1", "get_weather", {"city": "Paris"})]),
    "two-calls": (
        "Checking both cities.",
        [
            ToolCall("call_w1", "get_weather", {"city": "Paris"}),
            ToolCall("call_w2", "get_weather", {"city": 'Tōkyō "東京"', "unit": "c"}),
        ],
    ),
    "no-args": ("", [ToolCall("call_w1", "get_weather", {})]),
}


def ids(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{c}-to-{u}" for c, u in pairs]


@pytest.fixture
async def matrix(start_router):
    async with AsyncExitStack() as stack:
        yield await start_matrix(start_router, stack)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("variant", list(CALLS))
@pytest.mark.parametrize(("client", "upstream"), PAIRS, ids=ids(PAIRS))
async def test_agent_loop(matrix, client: str, upstream: str, variant: str, stream: bool) -> None:
    preamble, scripted = CALLS[variant]
    matrix.fake(upstream).enqueue(
        Reply(text=preamble, tool_calls=tuple(scripted)),
        Reply(text="Paris is sunny."),
        Reply(text="Also sunny."),
    )
    agent = matrix.agent(client, upstream, tools=True, prompt="Weather in Paris and Tokyo?")

    first = await agent.ask(stream)
    assert first.text == preamble
    assert [(c.name, c.args) for c in first.calls] == [
        (t.name, dict(t.arguments)) for t in scripted
    ]
    seen_ids = [c.id for c in first.calls]
    if (client, upstream) != ("gemini", "gemini"):  # only Gemini end to end may carry no id
        assert all(isinstance(i, str) and i for i in seen_ids), seen_ids
        assert len(set(seen_ids)) == len(seen_ids), seen_ids
    assert first.stop == STOPS["tool_use"][client]

    agent.answer(
        first, {result_key(c, n): WEATHER[c.args.get("city")] for n, c in enumerate(first.calls)}
    )
    second = await agent.ask(stream)  # the validating fake accepted the tool results
    assert second.text == "Paris is sunny."
    assert second.calls == []
    assert second.stop == STOPS["end_turn"][client]

    agent.say("Thanks! And tomorrow?")  # the loop stays valid history for later turns
    third = await agent.ask(stream)
    assert third.text == "Also sunny."

    sent = matrix.received(upstream)
    assert len(sent) == 3
    for body in sent[1:]:
        calls = calls_sent(upstream, body)
        results = results_sent(upstream, body)
        assert [(name, args) for _, name, args in calls] == [
            (t.name, dict(t.arguments)) for t in scripted
        ]
        if upstream == "gemini":  # paired by name and order
            assert [key for key, _ in results] == [t.name for t in scripted]
        else:  # the upstream gets back the very ids it issued
            assert [i for i, _, _ in calls] == [t.id for t in scripted]
            assert [key for key, _ in results] == [t.id for t in scripted]
        for (_, text), t in zip(results, scripted, strict=True):
            assert WEATHER[t.arguments.get("city")] in text, results


# -------------------------------------------------------------------- reasoning across a tool loop

# Pairs where the upstream issues a signature and the client format can carry
# it back: the signature must reach the upstream again, byte for byte.
THINKING = [
    ("anthropic", "anthropic"),
    ("gemini", "anthropic"),
    ("responses", "anthropic"),
    ("anthropic", "gemini-3"),
    ("chat", "gemini-3"),
    ("responses", "gemini-3"),
    ("gemini", "gemini-3"),
    ("anthropic", "responses"),
    ("chat", "responses"),
    ("gemini", "responses"),
    ("responses", "responses"),
]
_FAKE_ENCRYPTED = re.compile(r"^gAAAAAB([0-9a-f]{24})\1{3}$")  # what FakeOpenAI issues


def _b64(value: str) -> bytes:
    return base64.urlsafe_b64decode(
        value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4)
    )


def _signatures_replayed(upstream: str, body: dict[str, Any], thoughts: list[str]) -> None:
    """Each step's own proof of its reasoning came back with its tool call."""
    if upstream == "anthropic":
        turns = [m["content"] for m in body["messages"] if m["role"] == "assistant"]
        assert len(turns) == len(thoughts), turns
        for turn, thought in zip(turns, thoughts, strict=True):
            assert turn[0]["type"] == "thinking", turn  # thinking first, then tool_use
            assert turn[0]["thinking"] == thought
            assert turn[0]["signature"] == thinking_signature(thought)
            assert turn[-1]["type"] == "tool_use"
    elif upstream == "gemini-3":
        turns = [c["parts"] for c in body["contents"] if c.get("role") == "model"]
        assert len(turns) == len(thoughts), turns
        for turn, thought in zip(turns, thoughts, strict=True):
            call = next(p for p in turn if "functionCall" in p)
            assert _b64(call.get("thoughtSignature", "")) == _b64(thought_signature(thought)), turn
    else:
        items = body["input"]
        kinds = [i.get("type") for i in items]
        assert [k for k in kinds if k in ("reasoning", "function_call")] == [
            "reasoning",
            "function_call",
        ] * len(thoughts), kinds
        sigs = [i.get("encrypted_content", "") for i in items if i.get("type") == "reasoning"]
        assert all(_FAKE_ENCRYPTED.match(s) for s in sigs), sigs
        assert len(set(sigs)) == len(thoughts), sigs


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("client", "upstream"), THINKING, ids=ids(THINKING))
async def test_reasoning_survives_the_tool_loop(
    matrix, client: str, upstream: str, stream: bool
) -> None:
    """Two model steps, each thinking and then calling a tool, then the answer."""
    thoughts = [THOUGHT, "Paris done; now Tokyo."]
    matrix.fake(upstream).enqueue(
        Reply(
            thinking=thoughts[0],
            tool_calls=(ToolCall("call_t1", "get_weather", {"city": "Paris"}),),
        ),
        Reply(
            thinking=thoughts[1],
            tool_calls=(ToolCall("call_t2", "get_weather", {"city": "Tokyo"}),),
        ),
        Reply(text="Sunny, then rain."),
    )
    agent = matrix.agent(client, upstream, tools=True)

    for city in ("Paris", "Tokyo"):
        step = await agent.ask(stream, thinking=True)
        assert [(c.name, c.args) for c in step.calls] == [("get_weather", {"city": city})]
        if client != "chat":  # Chat has no place for a signature but the tool call's extras
            assert any(sig for _, sig in step.reasoning), step.reasoning
        agent.answer(
            step, {result_key(c, n): f"weather in {city}" for n, c in enumerate(step.calls)}
        )
    final = await agent.ask(stream, thinking=True)
    assert final.text == "Sunny, then rain."

    sent = matrix.received(upstream)
    assert len(sent) == 3
    _signatures_replayed(upstream, sent[1], thoughts[:1])
    _signatures_replayed(upstream, sent[2], thoughts)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_gemini_client_answering_by_name_only(matrix, upstream: str, stream: bool) -> None:
    """``Part.from_function_response(name=..., response=...)`` carries no id: the
    router pairs the results with the upstream's calls by name and order."""
    preamble, scripted = CALLS["two-calls"]
    matrix.fake(upstream).enqueue(
        Reply(text=preamble, tool_calls=tuple(scripted)), Reply(text="Paris is sunny.")
    )
    agent = matrix.agent("gemini", upstream, tools=True)
    agent.echo_ids = False
    first = await agent.ask(stream)
    agent.answer(
        first, {result_key(c, n): WEATHER[c.args.get("city")] for n, c in enumerate(first.calls)}
    )
    second = await agent.ask(stream)
    assert second.text == "Paris is sunny."

    got = matrix.received(upstream)[1]
    results = results_sent(upstream, got)
    keys = [t.name for t in scripted] if upstream == "gemini" else [t.id for t in scripted]
    assert [key for key, _ in results] == keys
    for (_, text), t in zip(results, scripted, strict=True):
        assert WEATHER[t.arguments.get("city")] in text, results
