"""The IR itself: aggregation of a stream, and the shared conversation clean-up."""

from __future__ import annotations

import base64

import pytest
from google.genai import types as gtypes

from router.formats import ir
from router.formats._common import (
    export_signature,
    fill_result_names,
    import_signature,
    normalize_turns,
)

U, A, S = ir.Role.USER, ir.Role.ASSISTANT, ir.Role.SYSTEM


def test_aggregate_builds_parts_in_index_order() -> None:
    events: list[ir.Event] = [
        ir.StreamStart("msg_1", "m"),
        ir.ReasoningDelta(0, "let me "),
        ir.ReasoningDelta(0, "think"),
        ir.ReasoningSignature(0, "sig", source="anthropic"),
        ir.BlockEnd(0),
        ir.TextDelta(1, "Hello"),
        ir.TextDelta(1, " world"),
        ir.BlockEnd(1),
        ir.ToolCallStart(2, "call_a", "Bash"),
        ir.ToolCallDelta(2, '{"comm'),
        ir.ToolCallDelta(2, 'and":"ls"}'),
        ir.BlockEnd(2),
        ir.ToolCallStart(3, "call_b", "Read"),
        ir.BlockEnd(3),
        ir.UsageEvent(ir.Usage(10, 5, 2, 1)),
        ir.Stop(ir.StopReason.TOOL_USE),
    ]
    resp = ir.aggregate(events)
    assert resp.id == "msg_1" and resp.model == "m"
    assert resp.content == (
        ir.Reasoning("let me think", "sig", False, "anthropic"),
        ir.Text("Hello world"),
        ir.ToolCall("call_a", "Bash", '{"command":"ls"}'),
        ir.ToolCall("call_b", "Read", "{}"),
    )
    assert resp.stop_reason is ir.StopReason.TOOL_USE
    assert resp.usage == ir.Usage(10, 5, 2, 1)


def test_aggregate_raises_on_error_or_missing_stop() -> None:
    with pytest.raises(ir.StreamFailed) as info:
        ir.aggregate(
            [ir.StreamStart("x", "m"), ir.TextDelta(0, "a"), ir.StreamError("boom", "overloaded")]
        )
    assert info.value.kind == "overloaded" and info.value.message == "boom"
    with pytest.raises(ir.StreamFailed):
        ir.aggregate([ir.StreamStart("x", "m"), ir.TextDelta(0, "a")])


def test_to_events_is_the_inverse_of_aggregate() -> None:
    resp = ir.Response(
        "r",
        "m",
        (
            ir.Reasoning("why", "sig", False, "anthropic"),
            ir.Reasoning("", "red", True, "anthropic"),
            ir.Text("answer"),
            ir.ToolCall("c", "f", '{"a":1}'),
        ),
        ir.StopReason.TOOL_USE,
        ir.Usage(1, 2, 0, 1),
    )
    events = ir.to_events(resp)
    assert events[0] == ir.StreamStart("r", "m") and events[-1] == ir.Stop(ir.StopReason.TOOL_USE)
    assert ir.aggregate(events) == resp


def test_translation_error_names_the_field() -> None:
    err = ir.TranslationError("messages[0].role", "expected 'user'")
    assert err.field == "messages[0].role"
    assert str(err) == "messages[0].role: expected 'user'"


def test_signature_tags_round_trip() -> None:
    assert export_signature("abc", "anthropic", "anthropic") == "abc"
    tagged = export_signature("abc", "gemini", "anthropic")
    assert tagged == "zcpaGEMIabc"
    assert import_signature(tagged, "anthropic") == ("abc", "gemini")
    assert import_signature("abc+/=", "responses") == ("abc+/=", "responses")
    assert import_signature("zcpaRESPab+/", "anthropic") == ("ab+/", "responses")
    assert import_signature("zcpaGEMIabc", "gemini") == (
        "zcpaGEMIabc",
        "gemini",
    )  # native: untouched


@pytest.mark.parametrize(
    ("source", "signature"),
    [
        ("anthropic", base64.b64encode(bytes(range(250, 256)) * 8).decode()),  # standard alphabet
        ("responses", "gAAAAABo-_" + "x" * 37),  # not canonical base64 at all
        ("openai", "sig with spaces: and colons"),
    ],
)
def test_tagged_signatures_survive_the_genai_sdk(source: ir.Format, signature: str) -> None:
    """google-genai decodes thoughtSignature as base64 and re-encodes it."""
    tagged = export_signature(signature, source, "gemini")
    part = gtypes.Part.model_validate({"text": "", "thoughtSignature": tagged})
    echoed = part.model_dump(mode="json", by_alias=True, exclude_none=True)["thoughtSignature"]
    assert import_signature(echoed, "gemini") == (signature, source)


def test_result_names_come_from_their_calls() -> None:
    msgs = (
        ir.Message(A, (ir.ToolCall("c1", "Bash", "{}"),)),
        ir.Message(U, (ir.ToolResult("c1", "", (ir.Text("ok"),)),)),
    )
    out = fill_result_names(msgs)
    assert out[1].content[0] == ir.ToolResult("c1", "Bash", (ir.Text("ok"),))


def test_normalize_merges_roles_puts_results_first_and_repairs_pairs() -> None:
    msgs = [
        ir.Message(U, (ir.Text("hi"),)),
        ir.Message(U, (ir.Text(""),)),  # empty: dropped
        ir.Message(
            A, (ir.Text("calling"), ir.ToolCall("c1", "a", "{}"), ir.ToolCall("c2", "b", "{}"))
        ),
        ir.Message(U, (ir.Text("also this"), ir.ToolResult("c2", "b", (ir.Text("2"),)))),
        ir.Message(S, (ir.Text("late system"),)),
        ir.Message(U, (ir.ToolResult("zz", "ghost", (ir.Text("?"),)),)),  # orphan
        ir.Message(A, (ir.Text("done"),)),
    ]
    out = normalize_turns(msgs, merge=True, system_as_user=True)
    assert [m.role for m in out] == [U, A, U, A]
    first = out[2].content
    assert isinstance(first[0], ir.ToolResult) and first[0].call_id == "c1"  # synthesized
    assert first[0].is_error
    assert isinstance(first[1], ir.ToolResult) and first[1].call_id == "c2"
    assert first[2:] == (
        ir.Text("also this"),
        ir.Text("late system"),
        ir.Text("[result of tool ghost]\n?"),
    )


def test_normalize_keeps_system_in_place_without_merge() -> None:
    msgs = [
        ir.Message(U, (ir.Text("a"),)),
        ir.Message(S, (ir.Text("s"),)),
        ir.Message(U, (ir.Text("b"),)),
    ]
    out = normalize_turns(msgs, merge=False, system_as_user=False)
    assert [m.role for m in out] == [U, S, U]


def test_normalize_leaves_trailing_calls_alone() -> None:
    msgs = [ir.Message(U, (ir.Text("a"),)), ir.Message(A, (ir.ToolCall("c", "t", "{}"),))]
    assert normalize_turns(msgs, merge=True, system_as_user=True) == msgs
